local what = event.request.parameters.what
if what == "top" then platform.config.greeting = "changed"
elseif what == "nested" then platform.config.limits.rate = 100
elseif what == "list" then platform.config.list[1] = "z"
elseif what == "session" then platform.session.role = "root"
elseif what == "struct" then platform.config.owner.name = "mallory"
elseif what == "replace" then platform.config = {}
elseif what == "api" then platform.api.get = nil
end
