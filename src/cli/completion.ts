/**
 * Shell completion (bash, zsh) with @pnpm/tabtab, as pnpm does it: `gokeylog completion SHELL` prints the
 * script; on each Tab the script asks the hidden `gokeylog completion-server`, which answers from this
 * CLI's own command tree (commands, options, option choices; files otherwise), so it never goes stale.
 */
import tabtab from '@pnpm/tabtab';
import { Argument, type Command } from 'commander';

const SHELLS = ['bash', 'zsh'] as const;
/** The command tabtab's scripts call on each Tab. */
const SERVER = 'completion-server';

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('Print the shell completion script for bash or zsh.')
    .addArgument(new Argument('<shell>', 'the shell to complete in').choices(SHELLS))
    .addHelpText('after', `
Examples:
  source <(gokeylog completion bash)                              # this shell; add it to ~/.bashrc to keep it
  gokeylog completion bash > /etc/bash_completion.d/gokeylog
  gokeylog completion zsh > "\${fpath[1]}/_gokeylog"               # then: autoload -U compinit && compinit`)
    .action(async (shell: (typeof SHELLS)[number]) => {
      process.stdout.write(await tabtab.getCompletionScript({ name: 'gokeylog', completer: 'gokeylog', shell }));
    });
  program
    .command(SERVER, { hidden: true })
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => complete(program));
}

function complete(program: Command): void {
  const env = tabtab.parseEnv(process.env);
  if (!env.complete) return;
  const shell = tabtab.getShellFromEnv(process.env);
  const words = env.partial.split(/\s+/).slice(1, -1); // the words before the one being completed
  const command = program.commands.find((c) => !isHidden(c) && words.includes(c.name()));
  if (!command) {
    const items = program.commands.filter((c) => !isHidden(c)).map((c) => ({ name: c.name(), description: c.description() }));
    return tabtab.log([...items, '--help', '--version'], shell);
  }
  const previous = command.options.find((o) => o.long === env.prev || o.short === env.prev);
  if (previous && (previous.required || previous.optional)) {
    return previous.argChoices ? tabtab.log(previous.argChoices, shell) : tabtab.logFiles();
  }
  if (env.lastPartial.startsWith('-')) {
    const options = command.options.filter((o) => !o.hidden && o.long).map((o) => ({ name: o.long!, description: o.description }));
    return tabtab.log([...options, '--help'], shell);
  }
  tabtab.logFiles();
}

const isHidden = (command: Command): boolean => command.name() === SERVER;
