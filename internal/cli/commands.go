package cli

import ucli "github.com/urfave/cli/v2"

// commands lists gradcouple's top-level commands.
func commands(env *Env) []*ucli.Command {
	return []*ucli.Command{
		newQuickstartCommand(env),
		newConvertCommand(env),
		newLabelCommand(env),
		newInspectCommand(env),
		newRepetitionCommand(env),
		newConsistencyCommand(env),
		newAdvantageCommand(env),
		newSqueezeCommand(env),
		newEnvCommand(env),
		newTrainCommand(env),
		newModelCommand(env),
		newCouplingCommand(env),
		newMergeCommand(env),
		newTwinsCommand(env),
		newFiguresCommand(env),
		newCompareCommand(env),
		newReportCommand(env),
		newStudyCommand(env),
	}
}
