import ArgumentParser
import Decoding
import Foundation
import Support
import T5
import Tokenizer

/// `idgenrec generate`: text in, generated text out, from a Hugging Face T5 folder
/// (config.json, model.safetensors, spiece.model).
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate with a T5 model folder (greedy, beam or diverse beam search).")

    @Option(help: "Model folder: config.json, model.safetensors and spiece.model.")
    var model: String
    @Option(name: .customLong("text"), help: "An input text (repeatable).")
    var texts: [String] = []
    @Option(help: "A file with one input text per line.")
    var inputFile: String?
    @Option(help: "HF max_new_tokens.") var maxNewTokens: Int = 20
    @Option(help: "HF min_new_tokens.") var minNewTokens: Int = 0
    @Option(help: "HF num_beams (1 = greedy).") var numBeams: Int = 1
    @Option(help: "HF num_beam_groups (diverse beam search when > 1).") var numBeamGroups: Int = 1
    @Option(help: "HF diversity_penalty.") var diversityPenalty: Double = 0
    @Option(help: "HF length_penalty.") var lengthPenalty: Double = 1
    @Option(help: "HF num_return_sequences.") var numReturnSequences: Int = 1
    @Option(help: "Inputs encoded and decoded together.") var batchSize: Int = 64
    @Option(help: "Also write the results as JSON to this file.") var json: String?

    struct Output: Codable {
        struct Sequence: Codable { var text: String; var tokens: [Int32]; var score: Float }
        var input: String
        var sequences: [Sequence]
    }

    func run() throws {
        let folder = URL(fileURLWithPath: model)
        let t5 = try T5Model.load(folder: folder)
        let tokenizer = try Tokenizer(contentsOf: folder.appendingPathComponent("spiece.model"))
        guard tokenizer.vocabularySize <= t5.config.vocab_size else {
            throw T5Error.tokenizerMismatch("\(folder.path)/spiece.model has \(tokenizer.vocabularySize) pieces, the model's vocab_size is \(t5.config.vocab_size)")
        }
        var inputs = texts
        if let inputFile {
            let text = try String(contentsOf: URL(fileURLWithPath: inputFile), encoding: .utf8)
            inputs += text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        }
        guard !inputs.isEmpty else { throw ValidationError("give --text or --input-file") }
        let eos = Int32(t5.config.eos_token_id)
        let ids = inputs.map { tokenizer.encode($0) + [eos] }
        let config = GenerationConfig(maxNewTokens: maxNewTokens, minNewTokens: minNewTokens, numBeams: numBeams,
                                      numBeamGroups: numBeamGroups, diversityPenalty: diversityPenalty,
                                      lengthPenalty: lengthPenalty, numReturnSequences: numReturnSequences,
                                      eosTokenId: eos, padTokenId: Int32(t5.config.pad_token_id),
                                      decoderStartTokenId: Int32(t5.config.decoder_start_token_id))
        let results = try generate(t5, inputs: ids, config: config, batchSize: batchSize)
        var outputs: [Output] = []
        for (input, result) in zip(inputs, results) {
            var out = Output(input: input, sequences: [])
            for seq in result.realSequences {
                let text = try tokenizer.decode(seq.tokens.filter { $0 != eos })
                out.sequences.append(.init(text: text, tokens: seq.tokens, score: seq.score))
                print("\(input)\t\(String(format: "%.4f", seq.score))\t\(text)")
            }
            outputs.append(out)
        }
        if let json { try AtomicFile.writeJSON(outputs, to: URL(fileURLWithPath: json)) }
    }
}
