import Corpora
import Foundation
import IDGen
import T5

/// One recommended item: its catalog id, the textual ID the model generated, its title (or item
/// text when the catalog has no title) and the beam's log-probability.
public struct Recommendation: Equatable, Sendable {
    public var itemID: String
    public var textualID: String
    public var title: String
    public var score: Float

    public init(itemID: String, textualID: String, title: String, score: Float) {
        self.itemID = itemID
        self.textualID = textualID
        self.title = title
        self.score = score
    }
}

extension RecommenderRunner {
    /// The next items for a history of catalog item ids (oldest first), best first, ranked over
    /// the whole catalog by trie-constrained beam search as in evaluation (template 0). A run
    /// trained with user IDs needs `user`, a user of the run's data; a run without them refuses
    /// one. Unknown items and users are errors that name them.
    public func recommend(history: [String], user: String? = nil, count: Int = 10) throws -> [Recommendation] {
        let data = trainer.data
        let catalog = data.domain.catalog
        let indices = try data.historyIndices(history)
        guard count >= 1 else { throw RecommenderError.invalidInput("count: expected at least 1, found \(count)") }
        var userIndex = 0
        if config.useUserIDs {
            guard let user else {
                throw RecommenderError.invalidInput("user: this run's prompts hold user IDs (trained with user IDs); name a user of \(data.domain.name)")
            }
            guard let u = data.split.users.firstIndex(of: user) else {
                throw RecommenderError.invalidInput("user: '\(user)' is not a user of \(data.domain.name)")
            }
            userIndex = u
        } else if let user {
            throw RecommenderError.invalidInput("user '\(user)': this run was trained without user IDs (its prompts name no user)")
        }
        // The target is never read when ranking; the history's first item fills the field.
        let target = EvaluationTarget(user: userIndex, userID: user ?? "query", history: indices, target: indices[0])
        let ranked = try rankingTrainer(beams: count).rankWithScores(model: model, targets: [target])[0]
        return ranked.prefix(count).map { item in
            Recommendation(itemID: catalog.ids[item.index], textualID: data.ids.textualIDs[item.index],
                           title: catalog.value("title", at: item.index) ?? catalog.text(at: item.index), score: item.score)
        }
    }

    /// Ranking returns as many items as beams: a request for more than the run's beams widens
    /// the search for that call (the first items can then differ from a narrower search's).
    private func rankingTrainer(beams: Int) -> RecommenderTrainer {
        guard beams > config.numBeams else { return trainer }
        var wider = config
        wider.numBeams = beams
        return RecommenderTrainer(config: wider, data: trainer.data, content: trainer.content)
    }
}
