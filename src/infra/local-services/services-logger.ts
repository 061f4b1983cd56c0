/** Where the local-services code reports what it starts, stops and finds (the console, or the service's logger). */
export interface LocalServicesLogger {
  info(msg: string): void;
  warn(msg: string): void;
}
