import Foundation
import Corpora
import IDGen
import T5

/// Everything that decides a recommender run, saved with every checkpoint (`run.json`).
/// Defaults follow METHOD.md §3 where the CPU budget allows; deviations are marked.
public struct RecommenderConfig: Codable, Sendable, Equatable {
    /// Model shape when not initialised from a folder.
    public var preset: T5Config.Preset = .cpu
    /// The Hugging Face T5 folder the run started from (`--init-from`); when set, the model's
    /// shape and vocabulary are that folder's and `preset` is unused. Recorded by
    /// `RecommenderPipeline.open`; nil for runs from a preset (and in older run.json files).
    public var initFrom: String?
    /// SentencePiece pieces for a vocabulary trained on the catalog text.
    public var vocabularySize = 8000
    /// History items kept in a prompt (the most recent).
    public var historyCap = 20
    /// Templates drawn per training sample *per epoch*. The original drew 3 per sample in one
    /// pass; on a CPU we draw 1 afresh each epoch by default (3 epochs see ~3 templates).
    public var templatesPerSample = 1
    public var maximumSourceLength = 256
    public var batchSize = 64
    public var epochs = 10
    public var learningRate: Float = 1e-3
    public var weightDecay: Float = 0.01
    public var adamEpsilon: Float = 1e-6
    public var warmupFraction: Float = 0.05
    public var clipNorm: Float = 1.0
    public var dropout: Float = 0.1
    public var seed: UInt64 = 0
    /// Validation users per epoch (seeded random sample; 0 = all).
    public var validationUsers = 1000
    /// Stop after this many epochs without a better validation NDCG@10 (nil = never).
    public var patience: Int?
    public var numBeams = 10
    public var evaluationBatchSize = 32
    /// Leak-free user IDs in the prompt (off by default, as in the fixed protocol).
    public var useUserIDs = false
    /// Initialisation of the shared token embedding for a model from a preset: nil or "random"
    /// (the T5 initialiser), "encoder" (each piece through the sentence encoder, PCA to d_model;
    /// `TokenEmbeddingInit`, issue 18). Optional so older run.json files load.
    public var tokenInit: String?
    /// Epochs at the start during which the shared token embedding is not updated (nil = 0).
    public var frozenEmbeddingEpochs: Int?
    /// The prompt framing (`PromptTemplates.named`): nil or "paper" (ten paraphrased templates),
    /// "short" (`user : {history}`). Optional so older run.json files load as "paper".
    public var promptFraming: String?
    /// How items are named (`IDScheme`): "textual" (generate the textual ID under the trie; nil in
    /// run.json files written before issue 19), "semantic" (generate the item's semantic codes
    /// under the same trie; `codes` holds the layout) or "item-token" (one decoder step over an
    /// item output table, `ItemToken.swift`, issue 20). Optional so older run.json files load.
    public var scheme: String?
    /// The semantic-code layout of the run's ID table (nil for textual IDs); its tokens are whole
    /// pieces of the run's vocabulary (`SemanticIDs.vocabularySymbols`).
    public var codes: SemanticCodeLayout?
    /// Settings of the item-token scheme (nil for textual IDs).
    public var itemToken: ItemTokenSettings?
    /// Item content in the prompt (issue 18 part 3, `ItemContent.swift`); nil = off (and in older
    /// run.json files).
    public var itemContent: ItemContentSettings?

    public init() {}
}

/// What one epoch did, for the JSON log and the SVG curve.
public struct EpochLog: Codable, Sendable, Equatable {
    public var epoch: Int
    public var loss: Double
    public var samples: Int
    public var seconds: Double
    public var tokensPerSecond: Double
    public var learningRate: Float
    public var validation: [String: Double]
    public var validationSeconds: Double
    /// Validation per source domain, for runs on several merged domains (nil for one domain).
    public var validationPerDomain: [DomainMetrics]?
}
