/**
 * The console's one typed GraphQL helper: documents carry their result and variable types,
 * queries and mutations go as POST (the server's CSRF prevention refuses GET), uploads go by
 * XHR for byte progress. Errors become GraphQLRequestError with the contract's code.
 */

/** A GraphQL document string tagged with its result and variables types. */
export type Document<Result, Variables = Record<string, never>> = string & { readonly __types?: [Result, Variables] };

export const gql = <Result, Variables = Record<string, never>>(source: string) => source as Document<Result, Variables>;

export interface ServerError {
  message: string;
  extensions?: { code?: string; field?: string; [key: string]: unknown };
}

export class GraphQLRequestError extends Error {
  constructor(
    message: string,
    /** The contract's error code (BAD_USER_INPUT, FORBIDDEN, …) or NETWORK. */
    readonly code: string,
    /** BAD_USER_INPUT: the argument or input field that was wrong, e.g. "input.name". */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** Where the console sends requests and who it is; set by the session. */
export const transport = {
  key: null as string | null,
  /** Called when the server no longer accepts the key (revoked, expired). */
  onUnauthenticated: (_reason: string) => {},
};

function errorFrom(errors: ServerError[] | undefined, status: number): GraphQLRequestError {
  const first = errors?.[0];
  if (!first) return new GraphQLRequestError(`The server answered ${status} without a result`, 'NETWORK');
  const error = new GraphQLRequestError(first.message || 'The server reported an error', first.extensions?.code ?? 'INTERNAL_SERVER_ERROR', first.extensions?.field);
  if (error.code === 'UNAUTHENTICATED') transport.onUnauthenticated(error.message);
  return error;
}

function parseResult<Result>(status: number, text: string): Result {
  let body: { data?: Result | null; errors?: ServerError[] };
  try {
    body = JSON.parse(text);
  } catch {
    throw new GraphQLRequestError(`The server answered ${status} with something that is not GraphQL`, 'NETWORK');
  }
  if (body.errors?.length || !body.data) throw errorFrom(body.errors, status);
  return body.data;
}

const authHeaders = (key: string | null): Record<string, string> => (key ? { authorization: `Bearer ${key}` } : {});

/** Runs a query or mutation; `key` overrides the session's (sign-in checks a key before keeping it). */
export async function request<Result, Variables>(document: Document<Result, Variables>, variables: Variables, key = transport.key): Promise<Result> {
  let response: Response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...authHeaders(key) },
      body: JSON.stringify({ query: document, variables }),
    });
  } catch {
    throw new GraphQLRequestError('Could not reach the server. Check that it is running and try again.', 'NETWORK');
  }
  return parseResult<Result>(response.status, await response.text());
}

/**
 * Sends a GraphQL multipart request (one file in `variables.file`) by XHR, reporting bytes
 * sent; `apollo-require-preflight` satisfies the server's CSRF prevention.
 */
export function upload<Result, Variables extends { file: File }>(
  document: Document<Result, Variables>,
  variables: Variables,
  onProgress: (sent: number, total: number) => void,
): Promise<Result> {
  const form = new FormData();
  form.append('operations', JSON.stringify({ query: document, variables: { ...variables, file: null } }));
  form.append('map', JSON.stringify({ 0: ['variables.file'] }));
  form.append('0', variables.file, variables.file.name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/graphql');
    for (const [name, value] of Object.entries(authHeaders(transport.key))) xhr.setRequestHeader(name, value);
    xhr.setRequestHeader('apollo-require-preflight', 'true');
    xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : variables.file.size);
    xhr.onerror = () => reject(new GraphQLRequestError('The upload was interrupted: could not reach the server.', 'NETWORK'));
    xhr.onload = () => {
      try {
        resolve(parseResult<Result>(xhr.status, xhr.responseText));
      } catch (error) {
        reject(error);
      }
    };
    xhr.send(form);
  });
}

/** An error in words for the page: never a stack or "[object Object]". The server's messages are in words already. */
export function describeError(error: unknown): string {
  if (error instanceof GraphQLRequestError) return error.code === 'FORBIDDEN' ? `Not allowed with this key: ${error.message}` : error.message;
  if (error instanceof Error && error.message) return error.message;
  return 'Something went wrong; try again.';
}
