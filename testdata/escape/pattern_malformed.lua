-- expect: malformed pattern
string.find("x", "[a")
