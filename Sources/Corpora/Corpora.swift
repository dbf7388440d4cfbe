// Corpora: see README "Layout".
