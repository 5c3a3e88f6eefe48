# BitsyncDropin.ps1 - a PowerShell DSC configuration that keeps one bitsync
# manifest drop-in in %ProgramData%\bitsync\manifest.d.
#
# A documented example (see README.md); the test suite does not run it.
#
#   . .\BitsyncDropin.ps1
#   BitsyncDropin -OutputPath .\BitsyncDropin -ManifestSource '\\corp.example\SYSVOL\corp.example\bitsync\50-dsc.yaml'
#   Start-DscConfiguration -Path .\BitsyncDropin -Wait -Verbose
#
# The Script resource:
#   Test  - stages the new manifest next to the live drop-ins, runs
#           `bitsync validate` on the staged directory (invalid: throws, so
#           the resource fails and Set never runs: the live drop-in stays),
#           then `bitsync plan --detailed-exitcode` on it.  In desired state
#           when the plan exits 0 and the live file already has this content.
#   Set   - installs the staged file (a rename in the same folder) and runs
#           `bitsync apply --wait`.
#   Get   - the live file's content and the last plan exit code.

Configuration BitsyncDropin
{
    param (
        # The manifest to ship: a file on a share the computer can read.
        [Parameter(Mandatory)] [string] $ManifestSource,
        [string] $DropinName   = '50-dsc.yaml',
        [string] $Bitsync      = "$env:ProgramFiles\bitsync\bitsync.exe",
        [string] $ManifestDir  = "$env:ProgramData\bitsync\manifest.d",
        [string] $ApplyTimeout = '30m'
    )

    Import-DscResource -ModuleName PSDesiredStateConfiguration

    Node 'localhost'
    {
        Script "bitsync-$DropinName"
        {
            GetScript = {
                $live = Join-Path $using:ManifestDir $using:DropinName
                & $using:Bitsync plan --detailed-exitcode | Out-Null
                @{ Result = "plan exit $LASTEXITCODE; " +
                    $(if (Test-Path $live) { Get-Content -Raw $live } else { '(absent)' }) }
            }

            TestScript = {
                $stage = Join-Path (Split-Path $using:ManifestDir) '.dsc-stage'
                Remove-Item -Recurse -Force $stage -ErrorAction SilentlyContinue
                New-Item -ItemType Directory -Force (Join-Path $stage 'manifest.d') | Out-Null
                Get-ChildItem -File $using:ManifestDir |
                    Copy-Item -Destination (Join-Path $stage 'manifest.d')
                $staged = Join-Path $stage "manifest.d\$using:DropinName"
                Copy-Item -Force $using:ManifestSource $staged

                # 1. validate: an invalid manifest never goes live
                $out = & $using:Bitsync validate (Join-Path $stage 'manifest.d') 2>&1
                if ($LASTEXITCODE -ne 0) {
                    throw "bitsync validate refused $($using:ManifestSource):`n$($out -join "`n")"
                }
                # 2. plan: exit 2 = changes pending
                $plan = & $using:Bitsync plan --detailed-exitcode (Join-Path $stage 'manifest.d') 2>&1
                $rc = $LASTEXITCODE
                if ($rc -ne 0 -and $rc -ne 2) {
                    throw "bitsync plan failed ($rc):`n$($plan -join "`n")"
                }
                Write-Verbose ($plan -join "`n")
                $live = Join-Path $using:ManifestDir $using:DropinName
                $same = (Test-Path $live) -and
                    ((Get-FileHash $live).Hash -eq (Get-FileHash $staged).Hash)
                return ($rc -eq 0 -and $same)
            }

            SetScript = {
                $stage  = Join-Path (Split-Path $using:ManifestDir) '.dsc-stage'
                $staged = Join-Path $stage "manifest.d\$using:DropinName"
                $live   = Join-Path $using:ManifestDir $using:DropinName
                # A name starting with '.' is ignored by bitsync until renamed.
                $tmp    = Join-Path $using:ManifestDir ".$using:DropinName.new"
                Copy-Item -Force $staged $tmp
                Move-Item -Force $tmp $live
                Remove-Item -Recurse -Force $stage
                & $using:Bitsync apply --wait --timeout $using:ApplyTimeout
                if ($LASTEXITCODE -ne 0) {
                    throw "bitsync apply exited $LASTEXITCODE; see: bitsync status"
                }
            }
        }
    }
}
