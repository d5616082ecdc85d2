string.format("%999999d", 1)
