-- expect: attempt to call a non-function object
-- Compile code from a string.
loadstring("return os.exit(3)")()
