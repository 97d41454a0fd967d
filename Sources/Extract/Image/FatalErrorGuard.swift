// libjpeg and libpng report a fatal error through a callback that must not return; C code
// longjmps out of it, which Swift cannot do. Running the decoder on its own thread lets the
// callback end just that thread (pthread_exit), after which the caller destroys the library's
// state as a setjmp handler would. The thread costs tens of microseconds per image.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

private final class GuardedCall {
    let body: () -> Void
    var finished = false
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// Runs `body` on a new thread and waits for it. Returns false if the thread was ended early by
/// `endGuardedCall()` (a C library's fatal-error callback), true if `body` returned.
func runGuarded(_ body: @escaping () -> Void) -> Bool {
    let call = GuardedCall(body)
    let context = Unmanaged.passRetained(call).toOpaque()
    #if canImport(Glibc)
    var thread = pthread_t()
    #else
    var thread: pthread_t?
    #endif
    let started = pthread_create(&thread, nil, { context in
        #if canImport(Glibc)
        guard let context else { return nil }
        #endif
        let call = Unmanaged<GuardedCall>.fromOpaque(context).takeUnretainedValue()
        call.body()
        call.finished = true
        return nil
    }, context)
    if started != 0 {
        // No thread: run in place; a fatal library error would then end the process.
        call.body()
        call.finished = true
    } else {
        #if canImport(Glibc)
        pthread_join(thread, nil)
        #else
        if let thread { pthread_join(thread, nil) }
        #endif
    }
    let finished = call.finished
    Unmanaged<GuardedCall>.fromOpaque(context).release()
    return finished
}

/// Ends the current guarded call's thread; only for fatal-error callbacks inside `runGuarded`.
func endGuardedCall() -> Never {
    pthread_exit(nil)
}
