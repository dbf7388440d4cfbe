// Decoding: see README "Layout".
