shared = "from the generic script"
