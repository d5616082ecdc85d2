for i = 1, 1000 do coroutine.create(function() end) end
