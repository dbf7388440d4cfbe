// Tokenizer: see README "Layout".
