// Download progress on stderr: a line redrawn in place on a terminal, a plain line every few
// seconds otherwise (logs, CI), nothing with --quiet.
import Foundation

final class DownloadProgress {
    enum Style { case auto, quiet }

    let label: String
    let quiet: Bool
    let terminal: Bool
    private var total: Int64?
    private var startBytes: Int64 = 0
    private var started = Date()
    private var lastShown = Date.distantPast

    init(label: String, style: Style) {
        self.label = label
        quiet = style == .quiet
        terminal = isatty(STDERR_FILENO) == 1
    }

    func note(_ text: String) {
        write("fetch: \(text)\n")
    }

    func start(at bytes: Int64, total: Int64?) {
        self.total = total
        startBytes = bytes
        started = Date()
        // A plain log gets its first line after one interval, so small files print only the last.
        lastShown = terminal ? .distantPast : started
    }

    func update(_ bytes: Int64) {
        let now = Date()
        let interval: TimeInterval = terminal ? 0.2 : 10
        guard now.timeIntervalSince(lastShown) >= interval else { return }
        lastShown = now
        write(terminal ? "\r\(line(bytes, now))\u{1B}[K" : "\(line(bytes, now))\n")
    }

    func finish(at bytes: Int64) {
        write(terminal ? "\r\(line(bytes, Date()))\u{1B}[K\n" : "\(line(bytes, Date()))\n")
    }

    private func line(_ bytes: Int64, _ now: Date) -> String {
        let seconds = max(now.timeIntervalSince(started), 1e-3)
        let rate = Double(bytes - startBytes) / 1e6 / seconds
        var text = "\(label): \(megabytes(bytes))"
        if let total, total > 0 {
            text += " of \(megabytes(total)) MB (\(Int(100 * Double(bytes) / Double(total)))%)"
        } else {
            text += " MB"
        }
        return text + String(format: ", %.1f MB/s", rate)
    }

    private func megabytes(_ bytes: Int64) -> String { String(format: "%.1f", Double(bytes) / 1e6) }

    private func write(_ text: String) {
        if !quiet { FileHandle.standardError.write(Data(text.utf8)) }
    }
}
