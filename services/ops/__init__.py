"""The operators' side: the `linli` tool and the local servers it starts.

It sits beside the services (it imports them to run their operator commands); nothing under
`shared/` imports it.
"""
