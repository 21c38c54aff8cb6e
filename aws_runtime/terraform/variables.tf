# Inputs of the Interlock module. Names follow the Go module's where they still mean the same
# thing; every CloudFormation parameter of ../template.yaml is reachable from here.

variable "project_name" {
  description = "Prefix of the stack name and a tag (the template's ProjectName)."
  type        = string
  default     = "interlock"
}

variable "environment" {
  description = "Environment name (dev, staging, prod): part of the stack name and a tag."
  type        = string
}

variable "stack_name" {
  description = "CloudFormation stack name; default \"<project_name>-<environment>\"."
  type        = string
  default     = null
}

variable "code_bucket" {
  description = "S3 bucket that receives the Lambda bundle and the rendered template."
  type        = string
}

variable "bundle_path" {
  description = "Path of the Lambda bundle built by `interlock aws package --out ZIP` (the Go module's dist_path)."
  type        = string
}

variable "pipelines_path" {
  description = "Pipelines directory applied with `interlock aws apply` after each change (\"\" disables it)."
  type        = string
  default     = ""
}

variable "interlock_command" {
  description = "The interlock executable that applies pipelines_path (needs the aws extra)."
  type        = string
  default     = "interlock"
}

variable "architecture" {
  description = "Lambda architecture; must match the bundle (`interlock aws package --arch`)."
  type        = string
  default     = "arm64"
}

variable "python_runtime" {
  description = "Lambda runtime; must match the bundle (`interlock aws package --python`)."
  type        = string
  default     = "python3.12"
}

variable "lambda_memory_size" {
  type    = number
  default = 256
}

variable "log_retention_days" {
  type    = number
  default = 30
}

variable "watchdog_schedule" {
  description = "EventBridge Scheduler expression of the watchdog (it checks SLAs too)."
  type        = string
  default     = "rate(1 minute)"
}

variable "alert_event_types" {
  description = "Event types the bus sends to the alert queue; null keeps the template's default list."
  type        = list(string)
  default     = null
}

variable "alerts_config" {
  description = "JSON of the alert routing normally in interlock.yaml (INTERLOCK_ALERTS)."
  type        = string
  default     = ""
}

variable "slack_secret_arn" {
  description = "Secrets Manager secret holding the Slack bot token."
  type        = string
  default     = ""
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for tables and queues; \"\" uses AWS-owned keys."
  type        = string
  default     = ""
}

variable "sns_alarm_topic_arn" {
  description = "SNS topic notified by the CloudWatch alarms (in addition to INFRA_ALARM events)."
  type        = string
  default     = ""
}

variable "glue_job_arns" {
  description = "Glue jobs the orchestrator may start."
  type        = list(string)
  default     = []
}

variable "emr_cluster_arns" {
  description = "EMR clusters the orchestrator may add steps to."
  type        = list(string)
  default     = []
}

variable "emr_serverless_app_arns" {
  description = "EMR Serverless applications the orchestrator may start job runs on."
  type        = list(string)
  default     = []
}

variable "sfn_trigger_arns" {
  description = "Step Functions state machines the orchestrator may start as jobs."
  type        = list(string)
  default     = []
}

variable "lambda_trigger_arns" {
  description = "Lambda functions the orchestrator may invoke as jobs."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags for the stack (CloudFormation propagates them to its resources)."
  type        = map(string)
  default     = {}
}
