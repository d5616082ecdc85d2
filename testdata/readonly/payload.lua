-- A change in place to the decoded payload: found after the script.
event.request.payload.sneaky = true
