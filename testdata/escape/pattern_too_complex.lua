-- expect: pattern too complex
-- Each optional item recurses once: 300 of them pass the matcher's depth bound.
string.find(("x"):rep(300), ("x?"):rep(300))
