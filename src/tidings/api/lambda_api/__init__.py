"""Lambda (2015-03-31) operations Tidings implements, by operation name."""

from tidings.api.lambda_api import functions, invoke, policy

HANDLERS = {
    "CreateFunction": functions.create_function,
    "GetFunction": functions.get_function,
    "GetFunctionConfiguration": functions.get_function_configuration,
    "ListFunctions": functions.list_functions,
    "UpdateFunctionCode": functions.update_function_code,
    "UpdateFunctionConfiguration": functions.update_function_configuration,
    "DeleteFunction": functions.delete_function,
    "PutFunctionConcurrency": functions.put_function_concurrency,
    "GetFunctionConcurrency": functions.get_function_concurrency,
    "DeleteFunctionConcurrency": functions.delete_function_concurrency,
    "Invoke": invoke.invoke,
    "AddPermission": policy.add_permission,
    "RemovePermission": policy.remove_permission,
    "GetPolicy": policy.get_policy,
}
