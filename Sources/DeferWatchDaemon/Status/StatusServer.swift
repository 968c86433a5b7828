#if canImport(Glibc)
import Glibc
#endif
import DeferWatchCore
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// The status socket: HTTP/1.1 on a Unix socket (and, when configured, /metrics on
/// 127.0.0.1), served by SwiftNIO on one thread of its own. Every request reads the
/// published snapshot; nothing here touches the pipeline.
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
    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var channels: [Channel] = []
    private var socketInode: ino_t?

    /// Bytes a request may have (its head; bodies are refused).
    static let maxRequestBytes = 64 * 1024

    public init(config: StatusConfig, board: StatusBoard) {
        self.config = config
        self.board = board
    }

    deinit { try? group.syncShutdownGracefully() }

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

/// sockaddr_un plumbing.
func withUnixAddress<R>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8.prefix(107))
    withUnsafeMutableBytes(of: &addr.sun_path) { p in
        for (i, b) in bytes.enumerated() { p[i] = b }
        p[bytes.count] = 0
    }
    return withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

func bindUnix(_ fd: Int32, _ path: String) -> Int32 { withUnixAddress(path) { bind(fd, $0, $1) } }
func connectUnix(_ fd: Int32, _ path: String) -> Int32 { withUnixAddress(path) { connect(fd, $0, $1) } }

/// Connections served at once.
final class ClientCount: Sendable {
    private let count = Mutex(0)
    let limit: Int
    init(limit: Int) { self.limit = limit }
    func enter() -> Bool {
        count.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
    }
    func leave() { count.withLock { $0 -= 1 } }
}

/// Refuses connections that send more than a request can need (before any parsing), so a
/// huge request costs at most `limit` bytes of memory.
final class RequestSizeLimit: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private let limit: Int
    private var seen = 0
    private var refused = false

    init(limit: Int) { self.limit = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }
        let buffer = unwrapInboundIn(data)
        seen += buffer.readableBytes
        if seen > limit {
            refused = true
            let channel = context.channel
            let text = "HTTP/1.1 413 Content Too Large\r\nContent-Type: application/json\r\nContent-Length: 44\r\nConnection: close\r\n\r\n{\"error\":\"request larger than 64 KiB\"}\r\n\r\n\r\n"
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text))).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        context.fireChannelRead(data)
    }
}

/// One request, one response, then the connection closes.
final class StatusHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let router: StatusRouter
    private var head: HTTPRequestHead?
    private var responded = false

    init(router: StatusRouter) { self.router = router }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !responded else { return }
        switch unwrapInboundIn(data) {
        case .head(let h):
            if h.headers.contains(name: "transfer-encoding")
                || (h.headers.first(name: "content-length").flatMap(Int.init) ?? 0) > 0 {
                respond(context, StatusRouter.Response(status: 413, contentType: "application/json",
                                                       body: Array("{\"error\":\"requests have no body\"}\n".utf8)))
            } else {
                head = h
            }
        case .body:
            respond(context, StatusRouter.Response(status: 413, contentType: "application/json",
                                                   body: Array("{\"error\":\"requests have no body\"}\n".utf8)))
        case .end:
            guard let head else { return }
            respond(context, router.route(method: head.method.rawValue, uri: head.uri))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            if !responded {
                respond(context, StatusRouter.Response(status: 408, contentType: "application/json",
                                                       body: Array("{\"error\":\"request not received in time\"}\n".utf8)))
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func respond(_ context: ChannelHandlerContext, _ r: StatusRouter.Response) {
        responded = true
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: r.contentType)
        headers.add(name: "Content-Length", value: String(r.body.count))
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Cache-Control", value: "no-store")
        let status = HTTPResponseStatus(statusCode: r.status)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: r.body)))), promise: nil)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
    }
}
