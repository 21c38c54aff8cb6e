# The stack's outputs, under the Go module's names where it had one.

output "store_url" {
  description = "The store URL for every interlock command (--store / INTERLOCK_STORE)."
  value       = aws_cloudformation_stack.interlock.outputs["StoreUrl"]
}

output "stack_name" {
  value = aws_cloudformation_stack.interlock.name
}

output "control_table_name" {
  value = aws_cloudformation_stack.interlock.outputs["ControlTableName"]
}

output "control_table_arn" {
  value = aws_cloudformation_stack.interlock.outputs["ControlTableArn"]
}

output "events_table_name" {
  value = aws_cloudformation_stack.interlock.outputs["EventsTableName"]
}

output "events_table_arn" {
  value = aws_cloudformation_stack.interlock.outputs["EventsTableArn"]
}

output "event_bus_name" {
  value = aws_cloudformation_stack.interlock.outputs["EventBusName"]
}

output "event_bus_arn" {
  value = aws_cloudformation_stack.interlock.outputs["EventBusArn"]
}

output "sfn_arn" {
  value = aws_cloudformation_stack.interlock.outputs["StateMachineArn"]
}

output "scheduler_group_name" {
  value = aws_cloudformation_stack.interlock.outputs["SchedulerGroupName"]
}

output "sla_monitor_arn" {
  value = aws_cloudformation_stack.interlock.outputs["SlaMonitorFunctionArn"]
}

output "alert_queue_url" {
  value = aws_cloudformation_stack.interlock.outputs["AlertQueueUrl"]
}
