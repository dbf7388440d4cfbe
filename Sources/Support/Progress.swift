import Foundation

/// A one-line progress display on stderr with count, rate, ETA and caller-supplied fields
/// (e.g. loss). Redraws at most every `interval` seconds; on a non-terminal it prints a new
/// line each time instead of redrawing. Flushes explicitly (a pipe is fully buffered).
public final class ProgressLine {
    public let label: String
    public let total: Int?
    public let unit: String
    private let start = Date()
    private var lastDraw = Date.distantPast // the first step draws at once (rate and ETA from one step)
    private let interval: TimeInterval
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private let enabled: Bool
    public private(set) var done = 0

    public init(_ label: String, total: Int?, unit: String = "it", interval: TimeInterval? = nil, enabled: Bool = true) {
        self.label = label
        self.total = total
        self.unit = unit
        self.enabled = enabled
        self.interval = interval ?? (isatty(STDERR_FILENO) != 0 ? 0.2 : 10)
    }

    public var elapsed: TimeInterval { Date().timeIntervalSince(start) }
    public var rate: Double { elapsed > 0 ? Double(done) / elapsed : 0 }

    public func advance(by n: Int = 1, _ fields: @autoclosure () -> String = "") {
        done += n
        let now = Date()
        if now.timeIntervalSince(lastDraw) >= interval {
            lastDraw = now
            draw(fields())
        }
    }

    public func finish(_ fields: String = "") {
        draw(fields, final: true)
    }

    private func draw(_ fields: String, final: Bool = false) {
        guard enabled else { return }
        var line = "\(label): \(done)"
        if let total { line += "/\(total)" }
        line += " \(unit) | \(Self.formatRate(rate)) \(unit)/s | \(Self.formatDuration(elapsed))"
        if let total, !final, rate > 0, done < total {
            line += " | ETA \(Self.formatDuration(Double(total - done) / rate))"
        }
        if !fields.isEmpty { line += " | " + fields }
        let text = isTerminal ? "\r\u{1B}[K" + line + (final ? "\n" : "") : line + "\n"
        FileHandle.standardError.write(Data(text.utf8))
    }

    public static func formatRate(_ r: Double) -> String {
        r >= 100 ? String(format: "%.0f", r) : String(format: "%.2f", r)
    }

    public static func formatDuration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm%02ds", s / 3600, (s % 3600) / 60, s % 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%.1fs", seconds)
    }
}

/// Messages for the user on stderr, flushed at once.
public enum Log {
    public static func info(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }
}
