error("stack overflow in my validator")
