-- A part of the payload as platform.api's options: its headers and parameters are sent.
return platform.api.get("lt/echo", nil, event.request.payload.opts)
