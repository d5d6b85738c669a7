"""Undo: take back what agents did, newest first, through the pipeline like any call.

A write tool declares its compensation (`ToolSpec.compensation`): the tool that takes it
back and where each of its arguments comes from in the original call or its result. When
such a call succeeds, the pipeline records the compensating call, arguments resolved,
in the call's `call.completed` audit record (compensation.py). `gateway undo` reads the
log (plan.py), lists what would be taken back, and on request runs each compensation as
a new call of the operator, linked to the call it compensates (run.py, api.py).
"""
