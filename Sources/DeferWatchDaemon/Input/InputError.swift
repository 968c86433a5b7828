#if canImport(Glibc)
import Glibc
#endif

/// A failure of the environment while reading input: what, where and why.
public struct InputError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var errno: Int32?
    public var detail: String?

    public init(path: String, operation: String, errno: Int32? = nil, detail: String? = nil) {
        self.path = path
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    public var description: String { "\(path): \(reason)" }

    /// What went wrong, without the path.
    public var reason: String {
        var s = operation
        if let errno { s += ": \(String(cString: strerror(errno)))" }
        if let detail { s += ": \(detail)" }
        return s
    }
}
