// Feedback on long work, on stderr: a redrawn bar with rate and time left on a terminal,
// a plain line every few seconds otherwise, nothing with --quiet.
import Foundation

final class ProgressDisplay {
    private let label: String
    private let unit: String
    private let quiet: Bool
    private let terminal = isatty(STDERR_FILENO) != 0
    private let start = Date()
    private var lastLine = Date.distantPast
    private var finished = false

    init(_ label: String, unit: String = "images", quiet: Bool) {
        self.label = label
        self.unit = unit
        self.quiet = quiet
    }

    func update(done: Int, total: Int, resumed: Int = 0) {
        guard !quiet, !finished else { return }
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let left = rate > 0 ? Double(total - done) / rate : 0
        let resumedText = resumed > 0 ? ", \(resumed) already done" : ""
        if terminal {
            let width = 30
            let filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            write(String(format: "\r%@ [%@] %d/%d %@, %.1f %@/s, %@ left%@\u{1B}[K", label, bar, done, total, unit, rate, unit,
                         duration(left), resumedText))
            if done >= total { write("\n"); finished = true }
        } else if done >= total || Date().timeIntervalSince(lastLine) >= 5 {
            lastLine = Date()
            write(String(format: "%@: %d/%d %@, %.1f %@/s, %@ left%@\n", label, done, total, unit, rate, unit, duration(left), resumedText))
            if done >= total { finished = true }
        }
    }

    func message(_ text: String) {
        guard !quiet else { return }
        write((terminal ? "\r\u{1B}[K" : "") + text + "\n")
    }

    private func duration(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? "\(t / 3600)h\(t % 3600 / 60)m" : t >= 60 ? "\(t / 60)m\(t % 60)s" : "\(t)s"
    }

    private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}

/// Warnings go to stderr even with --quiet.
func warn(_ text: String) {
    FileHandle.standardError.write(Data(("warning: " + text + "\n").utf8))
}
