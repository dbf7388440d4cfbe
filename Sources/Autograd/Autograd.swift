// Autograd: see README "Layout".
