-- expect: yield
-- Yielding from the main chunk.
coroutine.yield(1)
