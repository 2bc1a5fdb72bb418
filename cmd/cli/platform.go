package cli

import "runtime"

func isXDGPlatform() bool {
	return runtime.GOOS != "darwin" && runtime.GOOS != "windows"
}
