-- expect: attempt to call a non-function object
-- Dump bytecode (the first step of loading crafted bytecode).
return { content = string.dump(print) }
