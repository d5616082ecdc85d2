local t = os.clock()
while os.clock() - t < 0.2 do end
platform.store.incr("slow:done", 1)
