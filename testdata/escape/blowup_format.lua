-- expect: width or precision too long
string.format("%099999999d", 1)
