-- expect: attempt to call a non-function object
-- module() writes into package.loaded and the global table.
module("escape")
