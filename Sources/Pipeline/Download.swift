// One file fetched over HTTP for `pipeline fetch`: streamed to `<file>.partial` and hashed as it
// arrives, resumed with a Range request, renamed into place only once the hash is right.
import Crypto
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

enum FetchError: Error, CustomStringConvertible {
    case http(url: URL, status: Int)
    /// Nothing arrived: offline, refused, no such host, timed out.
    case unreachable(url: URL, reason: String, destination: URL)
    /// Some bytes arrived; they are kept in `partial` for the next run to resume from.
    case interrupted(url: URL, received: Int64, expected: Int64?, partial: URL, reason: String)
    case hashMismatch(file: URL, expected: String, actual: String)
    case io(path: String, reason: String)
    case tool(command: String, status: Int32, output: String)
    case unpack(archive: URL, missing: String)
    /// A step that needs a tool this machine lacks; `instructions` say how to do it by hand.
    case needs(tool: String, instructions: String)

    var description: String {
        switch self {
        case let .http(url, status):
            let hint = status == 404 ? " (not found: check the name, or the mirror given by --url / $PIPELINE_WEIGHTS_URL)" : ""
            return "HTTP \(status) \(HTTPURLResponse.localizedString(forStatusCode: status)) from \(url.absoluteString)\(hint)"
        case let .unreachable(url, reason, destination):
            return """
                cannot download \(url.absoluteString): \(reason)
                To place the file by hand, fetch \(url.absoluteString) on a machine that can reach it \
                (e.g. `curl -L -o \(destination.lastPathComponent) \(url.absoluteString)`) and copy it to
                  \(destination.path)
                """
        case let .interrupted(url, received, expected, partial, reason):
            let of = expected.map { " of \($0)" } ?? ""
            return "download of \(url.absoluteString) interrupted after \(received)\(of) bytes (\(reason)); the bytes so far are kept in \(partial.path): run the command again to resume"
        case let .hashMismatch(file, expected, actual):
            return "\(file.path): sha256 \(actual) does not start with the expected \(expected), so the download was deleted; run the command again, and if it fails the same way the server holds a different file"
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .tool(command, status, output):
            let tail = output.split(separator: "\n").suffix(5).joined(separator: "\n")
            return "`\(command)` failed with status \(status)" + (tail.isEmpty ? "" : ":\n\(tail)")
        case let .unpack(archive, missing):
            return "\(archive.path): unpacked, but \(missing) is missing; the archive is not the expected data set"
        case let .needs(tool, instructions):
            return "\(tool) is not available; \(instructions)"
        }
    }
}

struct Download {
    var url: URL
    var destination: URL
    /// torch.hub's `download_url_to_file` check: the sha256 hex digest must start with this. nil: no check.
    var hashPrefix: String?
    var progress: DownloadProgress.Style = .auto
    /// Seconds without data before giving up (URLSessionConfiguration.timeoutIntervalForRequest).
    var timeout: TimeInterval = 60

    var partial: URL { URL(fileURLWithPath: destination.path + ".partial") }

    /// Downloads (resuming `partial` if present), checks the hash, renames into place; returns the sha256 hex.
    func run() throws -> String {
        let dir = destination.deletingLastPathComponent()
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        } catch {
            throw FetchError.io(path: dir.path, reason: "cannot create the directory: \(error.localizedDescription)")
        }
        var digest: String?
        var restarted = false
        while digest == nil {
            switch try attempt() {
            case let .complete(hex):
                digest = hex
            case let .restart(reason):
                // At most once: a server that keeps refusing our ranges would otherwise loop.
                guard !restarted else { throw FetchError.io(path: partial.path, reason: reason) }
                restarted = true
                note("\(reason); starting over")
                try? FileManager.default.removeItem(at: partial)
            }
        }
        let hex = digest ?? ""
        if let prefix = hashPrefix, !hex.hasPrefix(prefix) {
            try? FileManager.default.removeItem(at: partial)
            throw FetchError.hashMismatch(file: destination, expected: prefix, actual: hex)
        }
        do {
            if FileManager.default.fileExists(atPath: destination.path) {
                try FileManager.default.removeItem(at: destination)
            }
            try FileManager.default.moveItem(at: partial, to: destination)
        } catch {
            throw FetchError.io(path: destination.path, reason: "cannot move \(partial.path) into place: \(error.localizedDescription)")
        }
        return hex
    }

    private enum Outcome { case complete(String), restart(String) }

    private func attempt() throws -> Outcome {
        let offset = fileSize(partial) ?? 0
        var hasher = SHA256()
        if offset > 0 {
            try hashFile(partial, into: &hasher)
            note("resuming \(partial.path) at \(offset) bytes")
        }
        var request = URLRequest(url: url, timeoutInterval: timeout)
        // Ranges and Content-Length must count the file's own bytes, not a compressed encoding's.
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        if offset > 0 { request.setValue("bytes=\(offset)-", forHTTPHeaderField: "Range") }

        let transfer = Transfer(partial: partial, offset: offset, hasher: hasher,
                                progress: DownloadProgress(label: destination.lastPathComponent, style: progress))
        let config = URLSessionConfiguration.ephemeral
        config.timeoutIntervalForRequest = timeout
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1  // delegate calls in order, one at a time
        let session = URLSession(configuration: config, delegate: transfer, delegateQueue: queue)
        session.dataTask(with: request).resume()
        transfer.done.wait()
        session.finishTasksAndInvalidate()

        switch transfer.stop {
        case let .status(code):
            // 416 to a resume: the partial file is already whole if the server's length says so.
            if code == 416, offset > 0 {
                if transfer.total == offset { return .complete(hex(transfer.hasher.finalize())) }
                return .restart("the server cannot serve bytes from \(offset) on (HTTP 416)")
            }
            throw FetchError.http(url: url, status: code)
        case let .restart(reason):
            return .restart(reason)
        case let .failed(reason):
            throw FetchError.io(path: partial.path, reason: reason)
        case nil:
            break
        }
        if let error = transfer.error {
            let reason = (error as? URLError).map(describe) ?? error.localizedDescription
            if transfer.received > 0 || offset > 0 {
                throw FetchError.interrupted(url: url, received: transfer.offset, expected: transfer.total,
                                             partial: partial, reason: reason)
            }
            throw FetchError.unreachable(url: url, reason: reason, destination: destination)
        }
        if let total = transfer.total, transfer.offset != total {
            throw FetchError.interrupted(url: url, received: transfer.offset, expected: total, partial: partial,
                                         reason: "the connection closed early")
        }
        return .complete(hex(transfer.hasher.finalize()))
    }

    private func describe(_ error: URLError) -> String {
        switch error.code {
        case .cannotConnectToHost: return "connection refused (\(error.localizedDescription))"
        case .notConnectedToInternet: return "no network connection"
        case .cannotFindHost, .dnsLookupFailed: return "host not found (offline, or no DNS)"
        case .timedOut: return "timed out after \(Int(timeout)) s without data"
        default: return error.localizedDescription
        }
    }

    private func note(_ text: String) {
        DownloadProgress(label: destination.lastPathComponent, style: progress).note(text)
    }
}

/// URLSession delegate that appends the body to the partial file and to the hash. Its state is
/// touched only on the session's serial delegate queue until `done` is signalled.
private final class Transfer: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    enum Stop { case status(Int), restart(String), failed(String) }

    let partial: URL
    var offset: Int64          // bytes in the partial file
    var hasher: SHA256
    let progress: DownloadProgress
    var received: Int64 = 0    // bytes received by this request
    var total: Int64?          // whole file's length, when the server says
    var stop: Stop?
    var error: Error?
    var file: FileHandle?
    let done = DispatchSemaphore(value: 0)

    init(partial: URL, offset: Int64, hasher: SHA256, progress: DownloadProgress) {
        self.partial = partial
        self.offset = offset
        self.hasher = hasher
        self.progress = progress
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @Sendable @escaping (URLSession.ResponseDisposition) -> Void) {
        // corelibs-foundation ignores the disposition, so stopping means cancelling the task.
        completionHandler(.allow)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 200
        let length = response.expectedContentLength >= 0 ? response.expectedContentLength : nil
        let contentRange = (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Content-Range")
        switch status {
        case 206 where offset > 0:
            // RFC 9110 §14.4: "bytes FIRST-LAST/LENGTH"; the body must start where our file ends.
            let range = contentRange.flatMap(ContentRange.init)
            guard let range, range.first == offset else {
                return halt(dataTask, .restart("the server answered the range request with `\(contentRange ?? "no Content-Range")`"))
            }
            total = range.length ?? length.map { $0 + offset }
        case 200:
            if offset > 0 {
                progress.note("the server ignored the range request (HTTP 200); starting over")
                offset = 0
                hasher = SHA256()
            }
            total = length
        case 416:
            total = contentRange.flatMap(ContentRange.init)?.length
            return halt(dataTask, .status(status))
        default:
            return halt(dataTask, .status(status))
        }
        do {
            if !FileManager.default.fileExists(atPath: partial.path),
               !FileManager.default.createFile(atPath: partial.path, contents: nil) {
                return halt(dataTask, .failed("cannot create the file"))
            }
            let handle = try FileHandle(forWritingTo: partial)
            try handle.truncate(atOffset: UInt64(offset))
            try handle.seekToEnd()
            file = handle
        } catch {
            halt(dataTask, .failed("cannot write: \(error.localizedDescription)"))
        }
        progress.start(at: offset, total: total)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard stop == nil, let file else { return }
        do {
            try file.write(contentsOf: data)
        } catch {
            return halt(dataTask, .failed("cannot write: \(error.localizedDescription)"))
        }
        hasher.update(data: data)
        offset += Int64(data.count)
        received += Int64(data.count)
        progress.update(offset)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        try? file?.close()
        file = nil
        if stop == nil {
            self.error = error
            if received > 0 { progress.finish(at: offset) }
        }
        done.signal()
    }

    private func halt(_ task: URLSessionTask, _ reason: Stop) {
        stop = reason
        task.cancel()
    }
}

/// A Content-Range header value, "bytes 100-199/1000" or "bytes */1000" (RFC 9110 §14.4).
struct ContentRange {
    var first: Int64?
    var length: Int64?

    init?(_ header: String) {
        let parts = header.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bytes" else { return nil }
        let rangeAndLength = parts[1].split(separator: "/", maxSplits: 1)
        guard rangeAndLength.count == 2 else { return nil }
        length = Int64(rangeAndLength[1])
        if rangeAndLength[0] != "*" {
            guard let first = rangeAndLength[0].split(separator: "-").first.flatMap({ Int64($0) }) else { return nil }
            self.first = first
        }
    }
}

func fileSize(_ url: URL) -> Int64? {
    guard let attributes = try? FileManager.default.attributesOfItem(atPath: url.path),
          let size = attributes[.size] as? NSNumber else { return nil }
    return size.int64Value
}

/// Feeds a file to the hash in 1 MiB chunks: checkpoints are up to 550 MB.
func hashFile(_ url: URL, into hasher: inout SHA256) throws {
    guard let handle = FileHandle(forReadingAtPath: url.path) else {
        throw FetchError.io(path: url.path, reason: "cannot open for reading")
    }
    defer { try? handle.close() }
    do {
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
    } catch {
        throw FetchError.io(path: url.path, reason: "cannot read: \(error.localizedDescription)")
    }
}

func sha256Hex(of url: URL) throws -> String {
    var hasher = SHA256()
    try hashFile(url, into: &hasher)
    return hex(hasher.finalize())
}

func hex(_ digest: SHA256.Digest) -> String {
    digest.map { String(format: "%02x", $0) }.joined()
}
