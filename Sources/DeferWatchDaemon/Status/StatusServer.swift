#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The status socket: HTTP/1.1 on a Unix socket (and, when configured, /metrics on
/// 127.0.0.1), served by SwiftNIO on one thread of its own (shared by the status servers of
/// a process). Every request reads the published snapshot; nothing here touches the
/// pipeline.
///
/// Safety: the socket is created under a temporary name, given its configured mode and
/// group, then renamed into place, so it is never reachable with wider permissions. A live
/// instance answering on the path makes the start fail; a stale socket left by a crash is
/// replaced; the daemon removes its own on exit. One request per connection; a request
/// larger than 64 KiB, a body, or a client that takes longer than `request_timeout` is
/// answered with an error or closed; at most `max_clients` connections are served at once.
public final class StatusServer {
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    private let config: StatusConfig
    private let board: StatusBoard
    /// One event loop thread for every status server of the process, never shut down: it
    /// ends with the process. NIO's group shutdown (`syncShutdownGracefully`) runs through
    /// Dispatch, whose worker threads set their nice value to that of their QoS (down to -4);
    /// under the unit's `SystemCallFilter=~@resources`, and for any process without
    /// CAP_SYS_NICE, that fails and libdispatch logs "Failed to set thread priority for
    /// worker thread" at every stop. Nothing else in the daemon uses Dispatch.
    private static let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var group: MultiThreadedEventLoopGroup { Self.group }
    private var channels: [Channel] = []
    private var socketInode: ino_t?

    /// Bytes a request may have (its head; bodies are refused).
    static let maxRequestBytes = 64 * 1024

    public init(config: StatusConfig, board: StatusBoard) {
        self.config = config
        self.board = board
    }

    deinit { stop() }

    public func start() throws(StartError) {
        do {
            if !config.socket.isEmpty {
                let fd = try Self.prepareSocket(config)
                var st = stat()
                if stat(config.socket, &st) == 0 { socketInode = st.st_ino }
                let router = StatusRouter(board: board, config: config)
                channels.append(try bootstrap(router).withBoundSocket(fd).wait())
            }
            if config.metricsPort > 0 {
                let router = StatusRouter(board: board, config: config, metricsOnly: true)
                channels.append(try bootstrap(router).bind(host: "127.0.0.1", port: config.metricsPort).wait())
            }
        } catch let e as StartError {
            stop()
            throw e
        } catch {
            stop()
            throw StartError(description: "cannot start the status server: \(error)")
        }
    }

    /// Closes the listeners and removes the socket file (if it is still ours).
    public func stop() {
        for ch in channels { try? ch.close().wait() }
        channels.removeAll()
        if let ino = socketInode {
            var st = stat()
            if stat(config.socket, &st) == 0 && st.st_ino == ino { unlink(config.socket) }
            socketInode = nil
        }
    }

    private func bootstrap(_ router: StatusRouter) -> ServerBootstrap {
        let clients = ClientCount(limit: config.maxClients)
        let timeout = TimeAmount.microseconds(config.requestTimeout)
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 512)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard clients.enter() else {
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in clients.leave() }
                // A hard deadline for the whole exchange, whatever the client does.
                let deadline = channel.eventLoop.scheduleTask(in: timeout * 2) { channel.close(promise: nil) }
                channel.closeFuture.whenComplete { _ in deadline.cancel() }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(RequestSizeLimit(limit: Self.maxRequestBytes))
                    try sync.configureHTTPServerPipeline(withPipeliningAssistance: false, withErrorHandling: true)
                    try sync.addHandler(IdleStateHandler(readTimeout: timeout))
                    try sync.addHandler(StatusHTTPHandler(router: router))
                }
            }
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
    }

    // MARK: - The socket file

    /// Checks the path, binds a new socket under a temporary name with the configured mode
    /// and group, and renames it into place. Returns the bound (not yet listening) socket.
    static func prepareSocket(_ config: StatusConfig) throws(StartError) -> Int32 {
        let path = config.socket
        let dir = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                throw StartError(description: "\(path) exists and is not a socket; not touching it (set [status] socket)")
            }
            if let pid = liveInstance(path) {
                throw StartError(description: "another deferwatch\(pid.map { " (pid \($0))" } ?? "") is running and answers on \(path); stop it first, or give this one another [status] socket")
            }
            // Stale: left by a crash. Replaced by the rename below.
        }
        if !dir.isEmpty && stat(dir, &st) != 0 {
            if mkdir(dir, 0o755) != 0 && errno != EEXIST {
                throw StartError(description: "cannot create \(dir) for the status socket: \(String(cString: strerror(errno)))")
            }
        }
        var gid: gid_t?
        if !config.socketGroup.isEmpty {
            if let n = UInt32(config.socketGroup) {
                gid = n
            } else if let g = getgrnam(config.socketGroup) {
                gid = g.pointee.gr_gid
            } else {
                throw StartError(description: "status socket group \"\(config.socketGroup)\" does not exist")
            }
        }
        let temp = "\(dir)/.status.\(getpid()).tmp"
        unlink(temp)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw StartError(description: "cannot create the status socket: \(String(cString: strerror(errno)))") }
        func fail(_ what: String) -> StartError {
            let e = String(cString: strerror(errno))
            close(fd)
            unlink(temp)
            return StartError(description: "\(what): \(e)")
        }
        guard bindUnix(fd, temp) == 0 else { throw fail("cannot create the status socket in \(dir)") }
        guard chmod(temp, mode_t(config.socketMode)) == 0 else { throw fail("cannot set the mode of the status socket") }
        if let gid, chown(temp, uid_t.max, gid) != 0 { throw fail("cannot give the status socket to group \(config.socketGroup)") }
        guard rename(temp, path) == 0 else { throw fail("cannot put the status socket at \(path)") }
        return fd
    }

    /// Whether a process answers on the socket; its pid when the kernel tells.
    static func liveInstance(_ path: String) -> Int32?? {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // A listener whose queue is full makes connect wait: a second is enough to tell.
        var tv = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        if connectUnix(fd, path) != 0 {
            // Refused or gone: stale. Timed out: something listens there but does not accept.
            return errno == EAGAIN || errno == EINPROGRESS ? .some(nil) : nil
        }
        // struct ucred: pid, uid, gid.
        var cred = [Int32](repeating: 0, count: 3)
        var len = socklen_t(12)
        if getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred[0] > 0 { return .some(cred[0]) }
        return .some(nil)
    }
}
