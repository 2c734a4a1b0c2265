"""Training by parameter reconstruction: witnesses, dictionary, convex solve, reconstruction."""
