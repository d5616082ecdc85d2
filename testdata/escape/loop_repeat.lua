-- expect: exceeded its time limit
repeat local x = 1 until false
