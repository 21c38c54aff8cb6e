# The Interlock AWS runtime for teams on Terraform: the very same CloudFormation template as
# `interlock aws deploy` (../template.yaml, with ../statemachine.asl.json inlined where it
# says), deployed as one aws_cloudformation_stack. There is no second copy of the resources.

data "aws_region" "current" {}

locals {
  stack_name = coalesce(var.stack_name, "${var.project_name}-${var.environment}")

  # The same rendering as aws_runtime/stack_template.py: the quoted placeholder becomes the
  # state machine definition as a JSON string literal (valid YAML), for Fn::Sub to fill.
  template_body = replace(
    file("${path.module}/../template.yaml"),
    "\"__INTERLOCK_STATE_MACHINE_DEFINITION__\"",
    jsonencode(jsonencode(jsondecode(file("${path.module}/../statemachine.asl.json"))))
  )

  bundle_key   = "interlock/bundles/${filesha256(var.bundle_path)}.zip"
  template_key = "interlock/templates/${sha256(local.template_body)}.yaml"

  parameters = merge(
    {
      CodeBucket           = var.code_bucket
      CodeKey              = aws_s3_object.bundle.key
      ProjectName          = var.project_name
      Environment          = var.environment
      Architecture         = var.architecture
      PythonRuntime        = var.python_runtime
      LambdaMemorySize     = tostring(var.lambda_memory_size)
      LogRetentionDays     = tostring(var.log_retention_days)
      WatchdogSchedule     = var.watchdog_schedule
      AlertsConfig         = var.alerts_config
      SlackSecretArn       = var.slack_secret_arn
      KmsKeyArn            = var.kms_key_arn
      AlarmTopicArn        = var.sns_alarm_topic_arn
      GlueJobArns          = join(",", var.glue_job_arns)
      EmrClusterArns       = join(",", var.emr_cluster_arns)
      EmrServerlessAppArns = join(",", var.emr_serverless_app_arns)
      JobStateMachineArns  = join(",", var.sfn_trigger_arns)
      JobLambdaArns        = join(",", var.lambda_trigger_arns)
    },
    var.alert_event_types == null ? {} : { AlertEventTypes = join(",", var.alert_event_types) }
  )

  pipeline_files = var.pipelines_path == "" ? [] : sort(concat(
    tolist(fileset(var.pipelines_path, "*.yaml")),
    tolist(fileset(var.pipelines_path, "*.yml")),
  ))
}

# Content-addressed keys, as `interlock aws deploy` uses: the same bundle is never re-uploaded.
resource "aws_s3_object" "bundle" {
  bucket = var.code_bucket
  key    = local.bundle_key
  source = var.bundle_path
  etag   = filemd5(var.bundle_path)
}

# The rendered template is near CloudFormation's 51,200-byte template_body limit, so it goes
# through S3 (template_url), like the deploy command does.
resource "aws_s3_object" "template" {
  bucket       = var.code_bucket
  key          = local.template_key
  content      = local.template_body
  content_type = "application/x-yaml"
}

resource "aws_cloudformation_stack" "interlock" {
  name         = local.stack_name
  template_url = "https://s3.${data.aws_region.current.name}.amazonaws.com/${var.code_bucket}/${aws_s3_object.template.key}"
  parameters   = local.parameters
  capabilities = ["CAPABILITY_IAM"]
  tags = merge(var.tags, {
    "interlock:stack" = local.stack_name
  })
}

# Pipelines go through the engine (validation, hashes, cron schedules), never as raw table
# items: `interlock aws apply DIR --stack-name NAME`, rerun whenever a file changes. The
# interpreter form runs the command without a shell.
resource "terraform_data" "pipelines" {
  count = var.pipelines_path == "" ? 0 : 1

  triggers_replace = {
    stack = aws_cloudformation_stack.interlock.id
    files = sha256(join(",", [for f in local.pipeline_files : filesha256("${var.pipelines_path}/${f}")]))
  }

  provisioner "local-exec" {
    interpreter = [
      var.interlock_command, "aws", "apply", "--stack-name", local.stack_name,
      "--region", data.aws_region.current.name,
    ]
    command = var.pipelines_path
  }
}
