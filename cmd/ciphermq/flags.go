package main

import "github.com/spf13/pflag"

// One name per concept across the client subcommands (the table in
// docs/clients.md): --broker is the broker address, --count how many
// messages, --format the envelope format ("seed" always means the
// reference format), --out an output file and --dir a directory. Flags
// renamed to fit keep their old names as hidden, deprecated aliases, so
// scripts keep working and are told the new name.

// deprecatedAlias registers old as a hidden alias of the flag named name:
// both set the same value, and using old prints a deprecation notice.
func deprecatedAlias(f *pflag.FlagSet, old, name string) {
	nf := f.Lookup(name)
	if nf == nil {
		panic("deprecatedAlias: no flag --" + name)
	}
	f.Var(nf.Value, old, nf.Usage)
	if nf.NoOptDefVal != "" {
		f.Lookup(old).NoOptDefVal = nf.NoOptDefVal
	}
	// MarkDeprecated also hides the flag from help.
	if err := f.MarkDeprecated(old, "use --"+name+" instead"); err != nil {
		panic(err)
	}
}

// changed reports whether any of the named flags was given.
func changed(f *pflag.FlagSet, names ...string) bool {
	for _, n := range names {
		if fl := f.Lookup(n); fl != nil && fl.Changed {
			return true
		}
	}
	return false
}
