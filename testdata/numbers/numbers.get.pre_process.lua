-- Numbers written to headers and parameters are written as tostring writes them.
event.request.headers["X-Stamp"] = 1796226846.598926
event.request.headers["X-List"] = { 2.5, 1e-7 }
event.request.parameters.small = 2.25e-5
event.request.parameters.big = 1e20
