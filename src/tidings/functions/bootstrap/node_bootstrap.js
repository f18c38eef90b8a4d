// Runs a Node.js Lambda handler inside an execution environment (see protocol.md).
//
// Started as `node node_bootstrap.js <socket fd>` with the function's code directory as the
// working directory. Node core modules only: the function's own packages must win.
//
// Semantics follow the Lambda Node.js runtime interface client 3.x (runtimes nodejs18.x to
// nodejs22.x): handler(event, context, callback); a returned promise settles the invocation;
// callback(null, result) waits for the event loop to drain unless
// context.callbackWaitsForEmptyEventLoop is false; context.succeed/fail/done answer at once;
// an uncaught exception or unhandled rejection fails the invocation and ends the process.

'use strict';

const fs = require('fs');
const net = require('net');
const path = require('path');
const util = require('util');
const { Writable } = require('stream');
const { createRequire } = require('module');
const { pathToFileURL } = require('url');
const { performance } = require('perf_hooks');

const PREFIX_BYTES = 12; // three big-endian uint32 lengths: header, body, log
const REQUEST_ID_SYMBOL = Symbol.for('aws.lambda.runtime.requestId');
const HANDLER_STREAMING = Symbol.for('aws.lambda.runtime.handler.streaming');
const HANDLER_HIGHWATERMARK = Symbol.for('aws.lambda.runtime.handler.streaming.highWaterMark');
const STREAM_RESPONSE = 'response';
const NO_OP = () => {};

// The user's modules are required as if from Lambda's own bootstrap, so that a missing module
// reads "Cannot find module 'index'\nRequire stack:\n- /var/runtime/index.mjs" as on AWS.
const userRequire = createRequire('/var/runtime/index.mjs');

// ---------------------------------------------------------------------------------------------
// Errors

// Lambda's own error types: their name (and so errorType) is "Runtime.<class name>".
function runtimeError(cls) {
  cls.prototype.name = `Runtime.${cls.name}`;
  return cls;
}

const ImportModuleError = runtimeError(class ImportModuleError extends Error {});
const HandlerNotFound = runtimeError(class HandlerNotFound extends Error {});
const MalformedHandlerName = runtimeError(class MalformedHandlerName extends Error {});
const UserCodeSyntaxError = runtimeError(class UserCodeSyntaxError extends Error {});
const MalformedStreamingHandler = runtimeError(class MalformedStreamingHandler extends Error {});
const NodeJsExit = runtimeError(
  class NodeJsExit extends Error {
    constructor() {
      super(
        'The Lambda runtime client detected an unexpected Node.js exit code. This is most commonly caused by a Promise that was never settled. For more information, see https://nodejs.org/docs/latest/api/process.html#exit-codes',
      );
    }
  },
);
const UnhandledPromiseRejection = runtimeError(
  class UnhandledPromiseRejection extends Error {
    constructor(reason, promise) {
      super(reason);
      this.reason = reason;
      this.promise = promise;
    }
  },
);

function isErrorLike(obj) {
  return (
    obj &&
    obj.name &&
    obj.message &&
    obj.stack &&
    typeof obj.name === 'string' &&
    typeof obj.message === 'string' &&
    typeof obj.stack === 'string'
  );
}

// Stack lines as the function's owner sees them: this bootstrap's frames read as Lambda's
// runtime (file:///var/runtime/index.mjs) rather than showing where the server is installed.
const RUNTIME_PATH = 'file:///var/runtime/index.mjs';

function hideBootstrapPath(text) {
  return text.includes(__filename) ? text.split(__filename).join(RUNTIME_PATH) : text;
}

function stackLines(stack) {
  return hideBootstrapPath(stack).split('\n');
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

// The error document Lambda returns for Node: errorType, errorMessage, trace.
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isErrorLike(error)) {
      return {
        errorType: error.name,
        errorMessage: error.message,
        trace: typeof error.stack === 'string' ? stackLines(error.stack) : [],
      };
    }
    return { errorType: typeof error, errorMessage: error.toString(), trace: [] };
  } catch (_err) {
    return {
      errorType: 'handled',
      errorMessage:
        'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function withEnumerableProperties(value) {
  if (value instanceof Error) {
    const ret = Object.assign(
      { errorType: value.name, errorMessage: value.message, code: value.code },
      value,
    );
    if (typeof value.stack === 'string') {
      ret.stack = stackLines(value.stack);
    }
    return ret;
  }
  return value;
}

// How an error is written into the log: a tab, then JSON (the tab is Lambda's).
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => withEnumerableProperties(v));
  } catch (_err) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// ---------------------------------------------------------------------------------------------
// Logs: console and the process's stdout/stderr go into a buffer that is sent
// with the next frame (the ready frame during init, the result frame during an invocation).

let logParts = [];

function takeLog() {
  if (logParts.length === 0) {
    return '';
  }
  const text = logParts.length === 1 ? logParts[0] : logParts.join('');
  logParts = [];
  return text;
}

function currentRequestId() {
  return global[REQUEST_ID_SYMBOL];
}

const LEVELS = Object.freeze({
  TRACE: { name: 'TRACE', priority: 1 },
  DEBUG: { name: 'DEBUG', priority: 2 },
  INFO: { name: 'INFO', priority: 3 },
  WARN: { name: 'WARN', priority: 4 },
  ERROR: { name: 'ERROR', priority: 5 },
  FATAL: { name: 'FATAL', priority: 6 },
});

function jsonErrorReplacer(_key, value) {
  if (value instanceof Error) {
    return Object.assign(
      {
        errorType: value?.constructor?.name ?? 'UnknownError',
        errorMessage: value.message,
        stackTrace: typeof value.stack === 'string' ? value.stack.split('\n') : value.stack,
      },
      value,
    );
  }
  return value;
}

function formatJsonMessage(requestId, timestamp, level, params) {
  const result = { timestamp, level: level.name, requestId };
  if (params.length === 1) {
    result.message = params[0];
    try {
      return JSON.stringify(result, jsonErrorReplacer);
    } catch (_err) {
      result.message = util.format(result.message);
      return JSON.stringify(result);
    }
  }
  result.message = util.format(...params);
  for (const param of params) {
    if (param instanceof Error) {
      result.errorType = param?.constructor?.name ?? 'UnknownError';
      result.errorMessage = param.message;
      result.stackTrace = typeof param.stack === 'string' ? param.stack.split('\n') : [];
      break;
    }
  }
  return JSON.stringify(result);
}

function logText(level, params) {
  const message = hideBootstrapPath(util.format(...params));
  logParts.push(`${new Date().toISOString()}\t${currentRequestId()}\t${level.name}\t${message}\n`);
}

function logJson(level, params) {
  const line = formatJsonMessage(currentRequestId(), new Date().toISOString(), level, params);
  logParts.push(hideBootstrapPath(line) + '\n');
}

let logError; // (label, error): how the runtime itself reports an error in the log

function patchConsole() {
  const json = (process.env.AWS_LAMBDA_LOG_FORMAT || '').toUpperCase() === 'JSON';
  const log = json ? logJson : logText;
  const threshold = LEVELS[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] || LEVELS.TRACE;
  // (message, ...params): console.log() with no argument logs "undefined", as on Lambda.
  const method = (level) =>
    level.priority >= threshold.priority ? (message, ...params) => log(level, [message, ...params]) : NO_OP;
  console.trace = method(LEVELS.TRACE);
  console.debug = method(LEVELS.DEBUG);
  console.info = method(LEVELS.INFO);
  console.log = console.info;
  console.warn = method(LEVELS.WARN);
  console.error = method(LEVELS.ERROR);
  console.fatal = (message, ...params) => log(LEVELS.FATAL, [message, ...params]);
  logError = json
    ? (_label, err) => console.error(intoError(err))
    : (label, err) => console.error(label, toFormatted(intoError(err)));
}

function capturedWrite(chunk, encoding, callback) {
  if (typeof encoding === 'function') {
    callback = encoding;
    encoding = undefined;
  }
  if (typeof chunk === 'string') {
    logParts.push(
      encoding && encoding !== 'utf8' && encoding !== 'utf-8'
        ? Buffer.from(chunk, encoding).toString('utf8')
        : chunk,
    );
  } else if (chunk != null) {
    logParts.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8'));
  }
  if (typeof callback === 'function') {
    process.nextTick(callback);
  }
  return true;
}

function captureStdio() {
  process.stdout.write = capturedWrite;
  process.stderr.write = capturedWrite;
}

// ---------------------------------------------------------------------------------------------
// The connection to the server

let socket = null;
let chunks = [];
let buffered = 0;
let frameLength = -1; // length of the frame being received, -1 while its prefix is incomplete

function encodeFrame(header, body, log) {
  const head = JSON.stringify(header);
  const headLength = Buffer.byteLength(head);
  const bodyLength = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  const logLength = log.length === 0 ? 0 : Buffer.byteLength(log);
  const frame = Buffer.allocUnsafe(PREFIX_BYTES + headLength + bodyLength + logLength);
  frame.writeUInt32BE(headLength, 0);
  frame.writeUInt32BE(bodyLength, 4);
  frame.writeUInt32BE(logLength, 8);
  let offset = PREFIX_BYTES + frame.write(head, PREFIX_BYTES, 'utf8');
  if (typeof body === 'string') {
    offset += frame.write(body, offset, 'utf8');
  } else {
    offset += body.copy(frame, offset);
  }
  if (logLength > 0) {
    frame.write(log, offset, 'utf8');
  }
  return frame;
}

function send(header, body, log, done) {
  socket.write(encodeFrame(header, body, log), done);
}

function onData(chunk) {
  chunks.push(chunk);
  buffered += chunk.length;
  while (true) {
    if (frameLength < 0) {
      if (buffered < PREFIX_BYTES) {
        return;
      }
      if (chunks[0].length < PREFIX_BYTES) {
        chunks = [Buffer.concat(chunks, buffered)];
      }
      const first = chunks[0];
      frameLength =
        PREFIX_BYTES + first.readUInt32BE(0) + first.readUInt32BE(4) + first.readUInt32BE(8);
    }
    if (buffered < frameLength) {
      return;
    }
    const data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, buffered);
    const length = frameLength;
    const headLength = data.readUInt32BE(0);
    const bodyLength = data.readUInt32BE(4);
    const header = JSON.parse(data.toString('utf8', PREFIX_BYTES, PREFIX_BYTES + headLength));
    const bodyStart = PREFIX_BYTES + headLength;
    const body = data.toString('utf8', bodyStart, bodyStart + bodyLength);
    if (data.length > length) {
      chunks = [data.subarray(length)];
      buffered = data.length - length;
    } else {
      chunks = [];
      buffered = 0;
    }
    frameLength = -1;
    onFrame(header, body);
  }
}

function connect(fd) {
  socket = new net.Socket({ fd, readable: true, writable: true });
  // Until the handler is loaded only the init's own work keeps the process alive: a module
  // whose top-level await can never settle ends the process instead of hanging it.
  socket.unref();
  socket.on('data', onData);
  // The server closed its end: it is done with this environment.
  socket.on('end', () => process.exit(dyingCode ?? 0));
  socket.on('close', () => process.exit(dyingCode ?? 0));
  socket.on('error', () => process.exit(dyingCode ?? 1));
}

// ---------------------------------------------------------------------------------------------
// Loading the handler

function moduleRootAndHandler(fullHandlerString) {
  const handlerString = path.basename(fullHandlerString);
  const moduleRoot = fullHandlerString.substring(0, fullHandlerString.indexOf(handlerString));
  return [moduleRoot, handlerString];
}

function splitHandlerString(handler) {
  const match = handler.match(/^([^.]*)\.(.*)$/);
  if (!match || match.length !== 3) {
    throw new MalformedHandlerName('Bad handler');
  }
  return [match[1], match[2]];
}

function resolveHandler(object, nestedProperty) {
  return nestedProperty.split('.').reduce((nested, key) => nested && nested[key], object);
}

function tryRequireFile(file, extension) {
  const target = file + (extension || '');
  return fs.existsSync(target) ? userRequire(target) : undefined;
}

async function tryAwaitImport(file, extension) {
  const target = file + (extension || '');
  return fs.existsSync(target) ? await import(pathToFileURL(target).href) : undefined;
}

function hasFolderPackageJsonTypeModule(folder) {
  if (folder.endsWith('/node_modules')) {
    return false;
  }
  const packageJson = path.join(folder, '/package.json');
  if (fs.existsSync(packageJson)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(packageJson));
      if (pkg) {
        return pkg.type === 'module';
      }
    } catch (err) {
      console.warn(
        `${packageJson} cannot be read, it will be ignored for ES module detection purposes.`,
        err,
      );
      return false;
    }
  }
  if (folder === '/') {
    return false;
  }
  return hasFolderPackageJsonTypeModule(path.resolve(folder, '..'));
}

async function tryRequire(appRoot, moduleRoot, module) {
  const lambdaStylePath = path.resolve(appRoot, moduleRoot, module);
  const extensionless = tryRequireFile(lambdaStylePath);
  if (extensionless) {
    return extensionless;
  }
  const typeModule = hasFolderPackageJsonTypeModule(path.resolve(path.dirname(lambdaStylePath)));
  if (!typeModule) {
    const loaded = tryRequireFile(lambdaStylePath, '.js');
    if (loaded) {
      return loaded;
    }
  }
  const loaded =
    (typeModule && (await tryAwaitImport(lambdaStylePath, '.js'))) ||
    (await tryAwaitImport(lambdaStylePath, '.mjs')) ||
    tryRequireFile(lambdaStylePath, '.cjs');
  if (loaded) {
    return loaded;
  }
  // Node's own resolution (packages under node_modules), relative to the task root.
  const nodeStylePath = userRequire.resolve(module, { paths: [appRoot, moduleRoot] });
  return userRequire(nodeStylePath);
}

class HttpResponseStream {
  static from(underlyingStream, prelude) {
    underlyingStream.setContentType('application/vnd.awslambda.http-integration-response');
    const metadataPrelude = JSON.stringify(prelude);
    underlyingStream._onBeforeFirstWrite = (write) => {
      write(metadataPrelude);
      write(new Uint8Array(8));
    };
    return underlyingStream;
  }
}

function installAwsLambdaGlobal() {
  const off = process.env.AWS_LAMBDA_NODEJS_NO_GLOBAL_AWSLAMBDA;
  if (off === '1' || off === 'true') {
    return;
  }
  globalThis.awslambda = {
    streamifyResponse: (handler, options) => {
      handler[HANDLER_STREAMING] = STREAM_RESPONSE;
      if (typeof options?.highWaterMark === 'number') {
        handler[HANDLER_HIGHWATERMARK] = parseInt(options.highWaterMark);
      }
      return handler;
    },
    HttpResponseStream,
  };
}

async function loadUserApp(appRoot, moduleRoot, module) {
  installAwsLambdaGlobal();
  try {
    return await tryRequire(appRoot, moduleRoot, module);
  } catch (err) {
    if (err instanceof SyntaxError) {
      throw new UserCodeSyntaxError(err);
    }
    if (err && err.code === 'MODULE_NOT_FOUND') {
      throw new ImportModuleError(err);
    }
    throw err;
  }
}

async function loadHandler(appRoot, fullHandlerString) {
  if (fullHandlerString.includes('..')) {
    throw new MalformedHandlerName(
      `'${fullHandlerString}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`,
    );
  }
  const [moduleRoot, moduleAndHandler] = moduleRootAndHandler(fullHandlerString);
  const [module, handlerPath] = splitHandlerString(moduleAndHandler);
  const userApp = await loadUserApp(appRoot, moduleRoot, module);
  const handler = resolveHandler(userApp, handlerPath);
  if (!handler) {
    throw new HandlerNotFound(`${fullHandlerString} is undefined or not exported`);
  }
  if (typeof handler !== 'function') {
    throw new HandlerNotFound(`${fullHandlerString} is not a function`);
  }
  return handler;
}

function handlerMetadata(handler) {
  const streaming = handler[HANDLER_STREAMING];
  if (streaming !== undefined && streaming !== null && streaming !== false) {
    if (streaming !== STREAM_RESPONSE) {
      throw new MalformedStreamingHandler('Only response streaming is supported.');
    }
  }
  let isAsync = false;
  try {
    isAsync = handler.constructor?.name === 'AsyncFunction';
  } catch (_err) {
    isAsync = false;
  }
  const hwm = parseInt(handler[HANDLER_HIGHWATERMARK]);
  return {
    streaming: streaming === STREAM_RESPONSE,
    highWaterMark: isNaN(hwm) ? undefined : hwm,
    isAsync,
    argsNum: handler.length,
  };
}

// ---------------------------------------------------------------------------------------------
// Invocations

let phase = 'init'; // 'init', then 'running', then 'dying'
let dyingCode = null; // the exit code once an error has been reported and the process is ending
let runtime = null;
let current = null; // the invocation in progress
let pendingFatal = null; // an uncaught error raised between invocations, reported with the next
const queue = []; // invoke frames that arrived while busy (the server sends one at a time)
let beforeExitListener = NO_OP;

function parseJson(text, name) {
  if (text === undefined || text === null) {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

function serializeResult(result) {
  try {
    return JSON.stringify(result === undefined ? null : result);
  } catch (_err) {
    return null;
  }
}

class Invocation {
  constructor(header) {
    this.id = header.id;
    this.header = header;
    this.posted = false;
  }

  postResult(result) {
    if (this.posted) {
      return;
    }
    const payload = serializeResult(result);
    if (payload === null) {
      // Lambda's runtime reports a value JSON cannot represent (cycles, BigInt) as an error.
      const error = new Error('Unable to stringify response body');
      logError('Invoke Error', error);
      this.postError(error);
      return;
    }
    this.finish({ type: 'result', id: this.id, error: false }, payload);
  }

  postBytes(bytes) {
    if (!this.posted) {
      this.finish({ type: 'result', id: this.id, error: false }, bytes);
    }
  }

  postError(err, exitCode) {
    if (this.posted) {
      return;
    }
    const header = { type: 'result', id: this.id, error: true };
    if (exitCode !== undefined) {
      header.exit = true;
    }
    this.finish(header, JSON.stringify(toRapidResponse(err)), exitCode);
  }

  finish(header, body, exitCode) {
    this.posted = true;
    current = null;
    beforeExitListener = NO_OP;
    const frame = encodeFrame(header, body, takeLog());
    if (exitCode !== undefined) {
      exitAfterWrite(frame, exitCode);
      return;
    }
    socket.write(frame);
    socket.ref(); // idle again: the socket keeps the process alive while it waits
    if (queue.length > 0) {
      setImmediate(nextFromQueue);
    }
  }
}

function exitAfterWrite(frame, code) {
  phase = 'dying';
  dyingCode = code;
  beforeExitListener = NO_OP;
  socket.write(frame, () => process.exit(code));
  setTimeout(() => process.exit(code), 2000);
}

// The callback, and context.succeed/fail/done, for one invocation; only the first call counts.
function buildCallbackContext(invocation) {
  let completed = false;
  let waitForEmptyEventLoop = true;
  const isCurrent = () => current === invocation;

  const postError = (err) => {
    logError('Invoke Error', err);
    invocation.postError(err);
  };
  const complete = (result) => {
    if (completed || invocation.posted) {
      console.error(
        'Invocation has already been reported as done. Cannot call complete more than once per invocation.',
      );
      return;
    }
    completed = true;
    invocation.postResult(result);
  };
  const callback = (err, result) => {
    if (isCurrent()) {
      beforeExitListener = NO_OP;
    }
    if (err !== undefined && err !== null) {
      postError(err);
    } else if (!waitForEmptyEventLoop || !isCurrent()) {
      complete(result);
    } else {
      beforeExitListener = () => {
        setImmediate(() => complete(result));
      };
    }
  };
  const done = (err, result) => {
    if (isCurrent()) {
      beforeExitListener = NO_OP;
    }
    if (err !== undefined && err !== null) {
      postError(err);
    } else {
      complete(result);
    }
  };

  let finished = false;
  const onlyFirstCall = (fn) =>
    function () {
      if (!finished) {
        fn.apply(null, arguments);
        finished = true;
      }
    };

  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed: onlyFirstCall((result) => done(null, result)),
    fail: onlyFirstCall((err) => (err === undefined || err === null ? done('handled') : done(err, null))),
    done: onlyFirstCall(done),
  };
  const markCompleted = () => {
    completed = true;
  };
  return [onlyFirstCall(callback), context, markCompleted];
}

function attachEnvironmentData(context, header) {
  const env = process.env;
  const deadline = header.deadline_ms;
  context.functionVersion = env.AWS_LAMBDA_FUNCTION_VERSION;
  context.functionName = env.AWS_LAMBDA_FUNCTION_NAME;
  context.memoryLimitInMB = env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
  context.logGroupName = env.AWS_LAMBDA_LOG_GROUP_NAME;
  context.logStreamName = env.AWS_LAMBDA_LOG_STREAM_NAME;
  context.clientContext = parseJson(header.client_context, 'ClientContext');
  context.identity = parseJson(header.identity, 'CognitoIdentity');
  context.invokedFunctionArn = header.arn;
  context.awsRequestId = header.id;
  context.tenantId = header.tenant_id === null ? undefined : header.tenant_id;
  context.getRemainingTimeInMillis = () => deadline - Date.now();
  return context;
}

function isPromise(obj) {
  return obj && obj.then && typeof obj.then === 'function';
}

class Runtime {
  constructor(handler, metadata) {
    // Called as this.handler(...), like Lambda's runtime: traces read "at Runtime.handler".
    this.handler = handler;
    this.metadata = metadata;
  }

  handleOnce(header, body) {
    const invocation = new Invocation(header);
    current = invocation;
    global[REQUEST_ID_SYMBOL] = invocation.id;
    if (header.trace_id) {
      process.env._X_AMZN_TRACE_ID = header.trace_id;
    } else if (process.env._X_AMZN_TRACE_ID !== undefined) {
      delete process.env._X_AMZN_TRACE_ID;
    }
    // While the function runs, only its own work keeps the event loop alive: when that work
    // is done, 'beforeExit' fires and tells us the loop is empty.
    socket.unref();
    if (pendingFatal !== null) {
      const { error, code } = pendingFatal;
      invocation.postError(error, code);
      return;
    }
    if (this.metadata.streaming) {
      this.handleOnceStreaming(invocation, body);
      return;
    }
    const [callback, callbackContext, markCompleted] = buildCallbackContext(invocation);
    const isAsync = this.metadata.isAsync;
    beforeExitListener = () => {
      markCompleted();
      if (isAsync) {
        const error = new NodeJsExit();
        logError('Invoke Error', error);
        invocation.postError(error);
      } else {
        invocation.postResult(null);
      }
    };
    try {
      const context = attachEnvironmentData(callbackContext, header);
      const result = this.handler(body.length > 0 ? JSON.parse(body) : {}, context, callback);
      if (isPromise(result)) {
        result.then(callbackContext.succeed, callbackContext.fail).catch(callbackContext.fail);
      }
    } catch (err) {
      callback(err);
    }
  }

  // A streamifyResponse handler: the stream is collected and returned whole (this server
  // answers Invoke, not InvokeWithResponseStream).
  async handleOnceStreaming(invocation, body) {
    let waitForEmptyEventLoop = true;
    const parts = [];
    let contentType = 'application/octet-stream';
    const responseStream = new Writable({
      highWaterMark: this.metadata.highWaterMark,
      write(chunk, _encoding, next) {
        if (this._onBeforeFirstWrite) {
          const first = this._onBeforeFirstWrite;
          this._onBeforeFirstWrite = null;
          first((data) => parts.push(Buffer.from(data)));
        }
        parts.push(Buffer.from(chunk));
        next();
      },
    });
    responseStream.setContentType = (value) => {
      contentType = value;
    };
    responseStream.getContentType = () => contentType;
    const context = attachEnvironmentData(
      {
        get callbackWaitsForEmptyEventLoop() {
          return waitForEmptyEventLoop;
        },
        set callbackWaitsForEmptyEventLoop(value) {
          waitForEmptyEventLoop = value;
        },
      },
      invocation.header,
    );
    const fail = (err) => {
      logError('Invoke Error', err);
      invocation.postError(err);
    };
    beforeExitListener = () => fail(new NodeJsExit());
    try {
      const result = this.handler(body.length > 0 ? JSON.parse(body) : {}, responseStream, context);
      if (!isPromise(result)) {
        fail('Streaming does not support non-async handlers.');
        return;
      }
      const value = await result;
      if (typeof value !== 'undefined') {
        console.warn('Streaming handlers ignore return values.');
      }
      if (!responseStream.writableFinished) {
        fail('Response stream is not finished.');
        return;
      }
      invocation.postBytes(Buffer.concat(parts));
    } catch (err) {
      fail(err);
    }
  }
}

function nextFromQueue() {
  if (current === null && queue.length > 0 && phase === 'running') {
    const [header, body] = queue.shift();
    runtime.handleOnce(header, body);
  }
}

function onFrame(header, body) {
  if (header.type !== 'invoke' || phase === 'dying') {
    return;
  }
  if (current !== null || runtime === null) {
    queue.push([header, body]);
    return;
  }
  runtime.handleOnce(header, body);
}

// An uncaught exception (exit code 129) or unhandled rejection (128): during an invocation it
// is that invocation's error; during init it is the init error; between invocations it is kept
// and becomes the next invocation's error (on Lambda the environment is frozen between
// invocations, so such work runs, and fails, during the next one). Then the process ends.
function fatal(label, error, code) {
  if (phase === 'dying') {
    return;
  }
  logError(label, error);
  if (phase === 'init') {
    exitAfterWrite(
      encodeFrame({ type: 'init_error' }, JSON.stringify(toRapidResponse(error)), takeLog()),
      code,
    );
  } else if (current !== null) {
    current.postError(error, code);
  } else if (pendingFatal === null) {
    pendingFatal = { error, code };
  }
}

function makeRejectionError(reason, promise) {
  try {
    return new UnhandledPromiseRejection(reason, promise);
  } catch (_err) {
    return new UnhandledPromiseRejection(util.inspect(reason), promise);
  }
}

async function main() {
  const fd = parseInt(process.argv[process.argv.length - 1], 10);
  patchConsole();
  captureStdio();
  connect(fd);
  process.on('uncaughtException', (error) => fatal('Uncaught Exception', error, 129));
  process.on('unhandledRejection', (reason, promise) =>
    fatal('Unhandled Promise Rejection', makeRejectionError(reason, promise), 128),
  );
  process.on('beforeExit', () => beforeExitListener());

  // A handler module that can never finish loading (a top-level await on nothing) ends the
  // process as Node ends one with an unsettled top-level await.
  beforeExitListener = () => process.exit(13);
  const appRoot = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const started = performance.now();
  let handler;
  let metadata;
  try {
    handler = await loadHandler(appRoot, process.env._HANDLER || '');
    metadata = handlerMetadata(handler);
  } catch (err) {
    fatal('Uncaught Exception', err, 129);
    return;
  }
  if (phase === 'dying') {
    return; // an asynchronous error during init has already been reported
  }
  if (
    process.env.AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING === undefined &&
    metadata.argsNum === 3 &&
    !metadata.isAsync &&
    !metadata.streaming
  ) {
    console.warn(
      'AWS Lambda plans to remove support for callback-based function handlers starting with Node.js 24. You will need to update this function to use an async handler to use Node.js 24 or later. For more information and to provide feedback on this change, see https://github.com/aws/aws-lambda-nodejs-runtime-interface-client/issues/137. To disable this warning, set the AWS_LAMBDA_NODEJS_DISABLE_CALLBACK_WARNING environment variable.',
    );
  }
  runtime = new Runtime(handler, metadata);
  phase = 'running';
  beforeExitListener = NO_OP;
  send({ type: 'ready', init_ms: performance.now() - started }, '', takeLog());
  socket.ref(); // waiting for the first invoke
  if (queue.length > 0) {
    setImmediate(nextFromQueue);
  }
}

main();
