// TensorCore: see README "Layout".
