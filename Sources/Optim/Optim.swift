// Optim: see README "Layout".
