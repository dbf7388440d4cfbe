// swift-tools-version:6.0
// IDGenRec in Swift: textual item IDs, a T5 recommender and co-training, on the CPU.
//
// Dependencies point one way (docs/layout.md):
//   Support ← TensorCore(CBLAS) ← Autograd ← Optim ← T5(Tokenizer, Decoding) ←
//   IDGen / Recommender / Baselines (Corpora) ← CoTrain ← IDGenRec (umbrella library) / IDGenRecCLI
//   Support ← TensorCore ← TextEncoder (sentence encoder, inference only) ← IDGenRec / IDGenRecCLI
//   Recommender / IDGen ← Server (HTTP, Hummingbird; docs/serve.md) ← IDGenRecCLI
// Only TensorCore imports BLAS, only Tokenizer imports SentencePiece, only the CLI imports the
// argument parser.
import Foundation
import PackageDescription

/// Numeric targets are always optimised: a debug build of SIMD code runs ~500x slower
/// (ENGINE-NOTES.md). `-target-cpu haswell` gives AVX2/FMA code that runs on any x86-64 machine
/// of the last decade; `-fno-math-errno` lets `sqrtf` vectorise. `IDGENREC_TARGET_CPU` builds
/// for another CPU (e.g. `skylake-avx512`, `znver4`; docs/engine.md has what it measured).
let targetCPU = ProcessInfo.processInfo.environment["IDGENREC_TARGET_CPU"] ?? "haswell"
let fast: [SwiftSetting] = [
    .unsafeFlags(["-O", "-target-cpu", targetCPU, "-Xcc", "-fno-math-errno"]),
]

let package = Package(
    name: "IDGenRec",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "idgenrec", targets: ["IDGenRecCLI"]),
        // `import IDGenRec` for everything (docs/library.md); or one layer at a time.
        .library(name: "IDGenRec", targets: ["IDGenRec"]),
        .library(name: "IDGenRecCorpora", targets: ["Corpora"]),
        .library(name: "IDGenRecIDs", targets: ["IDGen"]),
        .library(name: "IDGenRecRecommender", targets: ["Recommender"]),
        .library(name: "IDGenRecCoTrain", targets: ["CoTrain"]),
        .library(name: "IDGenRecT5", targets: ["T5"]),
        .library(name: "IDGenRecTextEncoder", targets: ["TextEncoder"]),
        .executable(name: "idgenrec-bench-engine", targets: ["BenchEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        .target(
            name: "CSentencePiece",
            path: "Sources/CSentencePiece",
            cxxSettings: [.unsafeFlags(["-O2", "-std=c++17"])],
            linkerSettings: [.linkedLibrary("sentencepiece"), .linkedLibrary("sentencepiece_train")]
        ),
        .target(name: "Support", swiftSettings: fast),
        .target(name: "TensorCore", dependencies: ["CBLAS", "Support"], swiftSettings: fast),
        .target(name: "Autograd", dependencies: ["TensorCore"], swiftSettings: fast),
        // Sentence encoder (BERT inference, docs/encoder.md): on TensorCore only, no autograd.
        .target(name: "TextEncoder", dependencies: ["TensorCore", "Support"], swiftSettings: fast),
        .target(name: "Optim", dependencies: ["Autograd"], swiftSettings: fast),
        .target(name: "Tokenizer", dependencies: ["CSentencePiece", "Support"], swiftSettings: fast),
        .target(name: "Decoding", dependencies: ["Support"], swiftSettings: fast),
        .target(name: "Corpora", dependencies: ["Support", "CZlib"], swiftSettings: fast),
        .target(name: "T5", dependencies: ["Autograd", "Optim", "Tokenizer", "Decoding"], swiftSettings: fast),
        .target(name: "IDGen", dependencies: ["Support", "Corpora", "Autograd", "Optim", "T5", "Tokenizer", "Decoding", "TextEncoder"], swiftSettings: fast),
        .target(name: "Recommender", dependencies: ["T5", "IDGen", "Corpora", "Decoding", "Tokenizer", "TextEncoder"], swiftSettings: fast),
        .target(name: "CoTrain", dependencies: ["Recommender", "IDGen"], swiftSettings: fast),
        .target(name: "Pretrain", dependencies: ["Autograd", "Optim", "T5", "Tokenizer", "Corpora", "IDGen", "Recommender", "Support"], swiftSettings: fast),
        .target(name: "Baselines", dependencies: ["Autograd", "Optim", "Corpora"], swiftSettings: fast),
        // `idgenrec serve`: the only target that imports the HTTP server (docs/serve.md).
        .target(
            name: "Server",
            dependencies: [
                "Support", "TensorCore", "Corpora", "Decoding", "IDGen", "T5", "Recommender", "Tokenizer", "TextEncoder",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: fast
        ),
        .target(name: "IDGenRec", dependencies: ["Support", "TensorCore", "Tokenizer", "Decoding", "Corpora", "T5", "IDGen", "Recommender", "CoTrain", "Pretrain", "Baselines", "TextEncoder"], swiftSettings: fast),
        .executableTarget(
            name: "IDGenRecCLI",
            dependencies: [
                "Support", "TensorCore", "Autograd", "Optim", "Tokenizer", "Decoding", "Corpora", "IDGen", "T5", "Recommender", "CoTrain", "Baselines", "Pretrain", "TextEncoder", "Server",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: fast
        ),
        .executableTarget(
            name: "BenchEngine",
            dependencies: ["Support", "TensorCore", "Autograd"],
            path: "Sources/BenchEngine",
            swiftSettings: fast
        ),
        // Test helpers (finite-difference gradient check), used only by test targets.
        .target(name: "TestSupport", dependencies: ["Autograd", "TensorCore", "Support"], path: "Tests/TestSupport"),
        .testTarget(name: "SupportTests", dependencies: ["Support"]),
        .testTarget(name: "EngineTests", dependencies: ["TensorCore", "Autograd", "Optim", "Support", "TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "Support"], exclude: ["Fixtures"]),
        .testTarget(name: "DecodingTests", dependencies: ["Decoding", "Support"]),
        .testTarget(name: "CorporaTests", dependencies: ["Corpora", "Support"], exclude: ["Fixtures"]),
        .testTarget(name: "IDGenTests", dependencies: ["IDGen", "Corpora", "Support", "Autograd", "T5", "TensorCore", "TextEncoder", "Tokenizer", "TestSupport"]),
        .testTarget(name: "T5Tests", dependencies: ["T5", "Tokenizer", "Support"], exclude: ["Fixtures"]),
        .testTarget(name: "RecommenderTests", dependencies: ["Recommender", "Support"]),
        .testTarget(name: "CoTrainTests", dependencies: ["CoTrain", "Support"]),
        .testTarget(name: "BaselinesTests", dependencies: ["Baselines", "Support"]),
        .testTarget(name: "PretrainTests", dependencies: ["Pretrain", "Recommender", "IDGen", "Corpora", "T5", "Tokenizer", "Support"]),
        .testTarget(name: "TextEncoderTests", dependencies: ["TextEncoder", "TensorCore", "Support"], exclude: ["Fixtures"]),
        .testTarget(name: "CLITests", dependencies: ["IDGenRecCLI", "Support", "TensorCore"]),
        .testTarget(name: "LibraryTests", dependencies: ["IDGenRec"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "Recommender", "IDGen", "Corpora", "Support", "TextEncoder", "TensorCore"]),
    ],
    swiftLanguageModes: [.v5]
)
