/**
 * How a command ends with a message and an exit code without a stack trace: thrown by a
 * command, caught once in program.ts. 1 = the operation failed, 2 = the command line was wrong,
 * 69 (EX_UNAVAILABLE) = no worker replied to a remote-control command, as Celery exits.
 */
export class CliExit extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 | 69 = 1,
  ) {
    super(message);
    this.name = 'CliExit';
  }
}
