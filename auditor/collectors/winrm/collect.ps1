# auditor host collector, request/response contract version 1. Windows PowerShell 5.1 and 7.
# Reads only, and judges nothing (Python does): registry values, local group members (by SID),
# certificates as DER, RDP's certificate hash, IIS configuration files, sshd_config and its
# Includes, session configuration properties, CredSSP delegation lists, WinHTTP proxy, services,
# firewall rules and, offline, WinRM's configuration. It never returns a secret: in IIS files
# the values of password and connectionString attributes are replaced by [redacted] here.
# Input: -RequestJson (see auditor/collectors/winrm/request.py). Output: one JSON string.
param([Parameter(Mandatory = $true)][string]$RequestJson)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0
$request = ConvertFrom-Json -InputObject $RequestJson

function New-Failure([System.Exception]$Exception) {
    $reason = 'collector_error'
    if ($Exception -is [System.UnauthorizedAccessException] -or
        $Exception -is [System.Security.SecurityException]) { $reason = 'access_denied' }
    if ($Exception -is [System.Management.Automation.CommandNotFoundException]) { $reason = 'not_supported' }
    @{ error = @{ reason = $reason; detail = $Exception.Message } }
}

function Invoke-Section([string]$Name, [scriptblock]$Body) {
    if (@($request.sections) -notcontains $Name) { return }
    try { $script:sections[$Name] = @{ ok = (& $Body) } }
    catch { $script:sections[$Name] = New-Failure $_.Exception }
}

function Get-RegistryEntry([string]$Path) {
    $parts = $Path -split '\\'
    if ($parts[0] -ne 'HKLM') { throw [System.ArgumentException]"only HKLM paths are read: $Path" }
    $subKey = ($parts[1..($parts.Count - 2)]) -join '\'
    $valueName = $parts[-1]
    $key = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey($subKey, $false)
    if ($null -eq $key) { return @{ present = $false; type = $null; data = $null } }
    try {
        if (@($key.GetValueNames()) -notcontains $valueName) {
            return @{ present = $false; type = $null; data = $null }
        }
        $kind = $key.GetValueKind($valueName)
        $data = $key.GetValue($valueName, $null, [Microsoft.Win32.RegistryValueOptions]::DoNotExpandEnvironmentNames)
        if ($kind -eq [Microsoft.Win32.RegistryValueKind]::Binary) { $data = [Convert]::ToBase64String($data) }
        $typeName = 'REG_' + $kind.ToString().ToUpperInvariant()
        if ($kind -eq [Microsoft.Win32.RegistryValueKind]::ExpandString) { $typeName = 'REG_EXPAND_SZ' }
        if ($kind -eq [Microsoft.Win32.RegistryValueKind]::MultiString) { $typeName = 'REG_MULTI_SZ' }
        if ($kind -eq [Microsoft.Win32.RegistryValueKind]::String) { $typeName = 'REG_SZ' }
        return @{ present = $true; type = $typeName; data = $data }
    }
    finally { $key.Close() }
}

function Read-ConfigText([string]$Path, [long]$Limit) {
    # A configuration file's XML text (no DTD processed), past $Limit only its size. Credential
    # values are blanked: Python needs only their presence, and a host's secrets stay on it.
    $entry = @{ path = $Path; present = $false; size = $null; text = $null }
    $file = New-Object System.IO.FileInfo $Path
    if (-not $file.Exists) { return $entry }
    $entry.present = $true
    $entry.size = $file.Length
    if ($file.Length -gt $Limit) { return $entry }
    $settings = New-Object System.Xml.XmlReaderSettings
    $settings.DtdProcessing = [System.Xml.DtdProcessing]::Prohibit
    $settings.XmlResolver = $null
    $doc = New-Object System.Xml.XmlDocument
    $doc.PreserveWhitespace = $true
    $reader = [System.Xml.XmlReader]::Create($Path, $settings)
    try { $doc.Load($reader) } finally { $reader.Close() }
    foreach ($attribute in @($doc.SelectNodes('//@*'))) {
        if (@('password', 'connectionString') -contains $attribute.LocalName -and $attribute.Value -and
            $attribute.Value -notlike 'registry:*') { $attribute.Value = '[redacted]' }
    }
    $entry.text = $doc.OuterXml
    $entry
}

function Get-IisConfiguration {
    # applicationHost.config, redirection.config and each application's root web.config as text:
    # which settings apply where is decided in Python (auditor/collectors/iis/).
    $configDir = Join-Path $env:windir 'System32\inetsrv\config'
    $appHostPath = Join-Path $configDir 'applicationHost.config'
    $answer = @{
        application_host = Read-ConfigText $appHostPath (4 * 1024 * 1024)
        redirection = Read-ConfigText (Join-Path $configDir 'redirection.config') (64 * 1024)
        web_configs = @()
    }
    if ($null -eq $answer.application_host.text) { return $answer }
    $sites = New-Object System.Xml.XmlDocument
    $sites.LoadXml($answer.application_host.text)
    $budget = [long](4 * 1024 * 1024)
    $answer.web_configs = @(foreach ($site in $sites.SelectNodes('/configuration/system.applicationHost/sites/site')) {
        foreach ($app in $site.SelectNodes('application')) {
            $vdir = $app.SelectSingleNode("virtualDirectory[@path='/']")
            if ($null -eq $vdir) { continue }
            $physical = $vdir.GetAttribute('physicalPath')
            $path = [System.IO.Path]::Combine([Environment]::ExpandEnvironmentVariables($physical), 'web.config')
            try { $entry = Read-ConfigText $path ([Math]::Min([long](256 * 1024), $budget)) }
            catch { $entry = New-Failure $_.Exception }
            if ($entry.ContainsKey('text') -and $null -ne $entry.text) { $budget -= $entry.size }
            $entry.site = $site.GetAttribute('name')
            $entry.application = $app.GetAttribute('path')
            $entry.physical_path = $physical
            $entry
        }
    })
    $answer
}

$script:sections = @{}
$registry = @{}
foreach ($path in @($request.registry)) {
    if (-not $path) { continue }
    try { $registry[$path] = Get-RegistryEntry $path }
    catch { $registry[$path] = New-Failure $_.Exception }
}

Invoke-Section 'os' {
    $os = Get-CimInstance -ClassName Win32_OperatingSystem
    $cs = Get-CimInstance -ClassName Win32_ComputerSystem
    @{
        caption = $os.Caption; version = $os.Version; build = [int]$os.BuildNumber
        product_type = [int]$os.ProductType; domain = $cs.Domain; joined = [bool]$cs.PartOfDomain
        hostname = $env:COMPUTERNAME
    }
}
Invoke-Section 'local_groups' {
    $groups = @{}
    foreach ($sid in @($request.local_groups)) {
        $groups[$sid] = @(Get-LocalGroupMember -SID $sid -ErrorAction Stop | ForEach-Object {
            @{ sid = $_.SID.Value; name = $_.Name; class = $_.ObjectClass; domain = $_.PrincipalSource.ToString() }
        })
    }
    $groups
}
Invoke-Section 'certificates' {
    # The stores a listener takes its certificate from, each certificate as Windows stored it
    # (DER); the host's own DNS name, which Python matches the certificates against.
    $network = [System.Net.NetworkInformation.IPGlobalProperties]::GetIPGlobalProperties()
    $found = @(foreach ($store in @('My', 'Remote Desktop')) {
        $path = 'Cert:\LocalMachine\' + $store
        if (-not (Test-Path -LiteralPath $path)) { continue }
        foreach ($cert in @(Get-ChildItem -LiteralPath $path)) {
            @{
                store = $store; thumbprint = $cert.Thumbprint; has_private_key = $cert.HasPrivateKey
                der = [Convert]::ToBase64String($cert.RawData)
            }
        }
    })
    @{ host_name = $network.HostName; dns_suffix = $network.DomainName; certificates = $found }
}
Invoke-Section 'rdp' {
    # Which certificate RDP-Tcp presents: the hash configured on the listener, the one the
    # Remote Desktop Configuration service reports, or (Python decides) the self-signed one.
    $setting = @(Get-CimInstance -Namespace root\cimv2\TerminalServices -ClassName Win32_TSGeneralSetting -Filter "TerminalName='RDP-tcp'")
    $reported = $null
    if ($setting.Count -gt 0) {
        $reported = @{ hash = $setting[0].SSLCertificateSHA1Hash; hash_type = $setting[0].SSLCertificateSHA1HashType }
    }
    @{
        configured_hash = Get-RegistryEntry 'HKLM\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp\SSLCertificateSHA1Hash'
        reported = $reported
    }
}
Invoke-Section 'iis' { Get-IisConfiguration }
Invoke-Section 'ssh' {
    # sshd_config and the files its Include lines name, as text: Python reads them as sshd does.
    # Only the Include arguments are found here, because globs must be expanded on the host:
    # relative to %ProgramData%\ssh as sshd does, sorted and matched in Python.
    $directory = Join-Path $env:ProgramData 'ssh'
    $path = Join-Path $directory 'sshd_config'
    if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { return @{ present = $false; path = $path } }
    $files = @()
    $includes = @{}
    $pending = New-Object System.Collections.Queue
    $pending.Enqueue($path)
    while ($pending.Count -gt 0) {
        $file = [string]$pending.Dequeue()
        if (@($files | Where-Object { $_.path -eq $file }).Count -gt 0) { continue }
        if ($files.Count -ge 16) { throw "sshd_config with its Include files is more than 16 files" }
        if ((Get-Item -LiteralPath $file -Force).Length -gt 262144) { throw "$file is larger than 256 KiB" }
        $text = [System.IO.File]::ReadAllText($file)
        $files += @{ path = $file; text = $text }
        foreach ($line in ($text -split "`n")) {
            if ($line -notmatch '^\s*Include(\s*=\s*|\s+)(.*)$') { continue }
            foreach ($token in [regex]::Matches($Matches[2], '"([^"]*)"|([^\s"]+)')) {
                $pattern = $token.Groups[1].Value + $token.Groups[2].Value
                if ($token.Groups[2].Value.StartsWith('#')) { break }
                if ($pattern.StartsWith('~') -or $includes.ContainsKey($pattern)) { continue }
                $full = $pattern -replace '^/(?=[A-Za-z]:)', ''
                if ($full -notmatch '^([A-Za-z]:|[\\/])') { $full = Join-Path $directory $full }
                $found = @()
                if (Test-Path -Path $full) {
                    $found = @(Get-Item -Path $full -Force | Where-Object { -not $_.PSIsContainer } | ForEach-Object { $_.FullName })
                }
                $includes[$pattern] = $found
                foreach ($match in $found) { $pending.Enqueue($match) }
            }
        }
    }
    $keys = Join-Path $directory 'administrators_authorized_keys'
    $keyFile = @{ present = $false; sddl = $null }
    if (Test-Path -LiteralPath $keys -PathType Leaf) { $keyFile = @{ present = $true; sddl = (Get-Acl -LiteralPath $keys).Sddl } }
    @{ present = $true; path = $path; files = $files; includes = $includes; administrators_authorized_keys = $keyFile }
}
Invoke-Section 'session_configurations' {
    # Every property as Windows has it, read through PSObject: properties such as LanguageMode,
    # SessionType or RunAsVirtualAccount exist only on some endpoints, and StrictMode throws on
    # a missing one. Values go as text (the plug-in XML's), booleans, lists of text or null.
    @(Get-PSSessionConfiguration | ForEach-Object {
        $properties = @{}
        foreach ($property in $_.PSObject.Properties) {
            $value = $property.Value
            if ($null -ne $value -and $value -isnot [bool]) {
                if ($value -is [System.Collections.IEnumerable] -and $value -isnot [string]) {
                    $value = @($value | ForEach-Object { [string]$_ })
                } else { $value = [string]$value }
            }
            $properties[$property.Name] = $value
        }
        $properties
    })
}
Invoke-Section 'winhttp_proxy' {
    Get-RegistryEntry 'HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections\WinHttpSettings'
}

function Get-RegistryKeyValues([string]$Path, [int]$Depth) {
    # Every value of a key, each as Get-RegistryEntry reads it, and its subkeys' down to $Depth.
    $key = [Microsoft.Win32.Registry]::LocalMachine.OpenSubKey(($Path -split '\\', 2)[1], $false)
    if ($null -eq $key) { return @{ present = $false; values = @{}; subkeys = @{} } }
    try {
        $values = @{}
        foreach ($name in @($key.GetValueNames())) { $values[$name] = Get-RegistryEntry ($Path + '\' + $name) }
        $subkeys = @{}
        if ($Depth -gt 0) {
            foreach ($name in @($key.GetSubKeyNames())) { $subkeys[$name] = Get-RegistryKeyValues ($Path + '\' + $name) ($Depth - 1) }
        }
        @{ present = $true; values = $values; subkeys = $subkeys }
    }
    finally { $key.Close() }
}
Invoke-Section 'credssp_delegation' {
    Get-RegistryKeyValues 'HKLM\SOFTWARE\Policies\Microsoft\Windows\CredentialsDelegation' 1
}
# Offline requests only (online, the scanner reads these over WS-Man): WinRM's configuration
# and listeners as the WS-Man scripting API returns them, the text winrm.cmd prints with
# -format:xml.
Invoke-Section 'winrm_config' {
    $session = (New-Object -ComObject 'WSMan.Automation').CreateSession()
    @{ xml = [string]$session.Get('http://schemas.microsoft.com/wbem/wsman/1/config') }
}
Invoke-Section 'winrm_listeners' {
    $session = (New-Object -ComObject 'WSMan.Automation').CreateSession()
    $enumeration = $session.Enumerate('http://schemas.microsoft.com/wbem/wsman/1/config/listener')
    $items = New-Object System.Collections.ArrayList
    while (-not $enumeration.AtEndOfStream) { [void]$items.Add([string]$enumeration.ReadItem()) }
    @{ items = @($items) }
}
Invoke-Section 'services' {
    $found = @{}
    foreach ($name in @($request.services)) {
        $service = Get-Service -Name $name -ErrorAction SilentlyContinue
        if ($null -ne $service) { $found[$name] = @{ state = $service.Status.ToString(); start_mode = $service.StartType.ToString() } }
    }
    $found
}
Invoke-Section 'firewall_rules' {
    @(Get-NetFirewallRule -Name @($request.firewall_rules) -ErrorAction SilentlyContinue | ForEach-Object {
        @{ id = $_.Name; enabled = ($_.Enabled.ToString() -eq 'True'); direction = $_.Direction.ToString(); action = $_.Action.ToString(); profiles = $_.Profile.ToString() }
    })
}

ConvertTo-Json -Compress -Depth 12 -InputObject @{
    version = 1
    collected_at = [DateTime]::UtcNow.ToString('o')
    registry = $registry
    sections = $script:sections
}
