// The umbrella library: `import IDGenRec` gives a Swift package the whole public API — data import
// and evaluation (Corpora), textual item IDs (IDGen), the T5 recommender and its runs
// (Recommender), co-training (CoTrain), pre-training (Pretrain), baselines (Baselines), the
// sentence encoder (TextEncoder) and the layers below them. Each layer is also a library product
// of its own (Package.swift), for users who want only part of it. docs/library.md shows it in
// use; LibraryTests compiles and runs that.
@_exported import Baselines
@_exported import CoTrain
@_exported import Corpora
@_exported import Decoding
@_exported import IDGen
@_exported import Pretrain
@_exported import Recommender
@_exported import Support
@_exported import T5
@_exported import TensorCore
@_exported import TextEncoder
@_exported import Tokenizer
